package server

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// maintenanceFile marks maintenance mode in the data directory: while it
// exists the server starts with its MQTT endpoints closed, across restarts
// and process starts, until a restart with Maintenance "stop" removes it.
const maintenanceFile = "maintenance"

// maintenanceTempPrefix names the temporary file the marker is written to.
const maintenanceTempPrefix = ".maintenance-"

// inMaintenance reports whether the data directory is in maintenance mode.
func (d *dataDir) inMaintenance() (bool, error) {
	_, err := os.Stat(filepath.Join(d.path, maintenanceFile))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read maintenance state: %w", err)
	}
	return true, nil
}

// setMaintenance records the maintenance state durably: the marker is
// written to a temporary file, fsynced and renamed, and the directory
// fsynced; leaving maintenance removes it and fsyncs the directory.
func (d *dataDir) setMaintenance(on bool, now time.Time) error {
	path := filepath.Join(d.path, maintenanceFile)
	if !on {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("leave maintenance mode: %w", err)
		}
		return d.sync()
	}
	tmp, err := os.CreateTemp(d.path, maintenanceTempPrefix+"*")
	if err != nil {
		return fmt.Errorf("enter maintenance mode: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := fmt.Fprintf(tmp, "maintenance mode since %s\n", now.UTC().Format(time.RFC3339)); err != nil {
		tmp.Close()
		return fmt.Errorf("enter maintenance mode: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("enter maintenance mode: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("enter maintenance mode: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("enter maintenance mode: %w", err)
	}
	return d.sync()
}

// sync fsyncs the data directory itself.
func (d *dataDir) sync() error {
	f, err := os.Open(d.path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync data directory: %w", err)
	}
	return nil
}
