package backup

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/mqsight/mqsight/internal/config"
	"github.com/mqsight/mqsight/internal/store"
)

// benchStore fills a store with about size bytes of messages and returns
// it with a configuration manager.
func benchStore(b *testing.B, size int) (*config.Manager, *store.Store, string) {
	b.Helper()
	dir := b.TempDir()
	m, _, err := config.Open(filepath.Join(dir, "config"), nil)
	if err != nil {
		b.Fatal(err)
	}
	st, err := store.Open(filepath.Join(dir, "store"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	payload := make([]byte, 8192)
	rand.Read(payload) // incompressible: the checkpoint's size is the data's size
	id := uint64(0)
	for written := 0; written < size; {
		batch := st.NewBatch()
		for range 512 {
			id++
			msg := store.Message{ID: id, Topic: fmt.Sprintf("bench/%d", id%64), Payload: payload, QoS: 1}
			batch.Put(store.MessageKey(id), msg.Encode())
			written += len(payload)
		}
		if _, err := st.Commit(batch); err != nil {
			b.Fatal(err)
		}
	}
	return m, st, dir
}

// BenchmarkStoreBackup compares, on one store of 64 MiB of messages, a
// store backup to file:// (checkpoint, encrypt, write, fsync, commit) with
// the "cp -r" baseline: a checkpoint copied file by file with fsync.
// Bytes/s are of the checkpoint's size in both.
func BenchmarkStoreBackup(b *testing.B) {
	m, st, dir := benchStore(b, 64<<20)
	userfiles := filepath.Join(dir, "userfiles")
	if err := os.MkdirAll(userfiles, 0o700); err != nil {
		b.Fatal(err)
	}
	probe := filepath.Join(b.TempDir(), "probe")
	if _, err := st.Checkpoint(probe); err != nil {
		b.Fatal(err)
	}
	_, total, err := listTree(probe)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("backup", func(b *testing.B) {
		deps := BackupDeps{Config: m, Store: st, ScratchDir: dir, Open: testOpener("")}
		b.SetBytes(total)
		for i := 0; i < b.N; i++ {
			out := b.TempDir()
			if _, err := Backup(context.Background(), BackupRequest{
				Password: testPassword, Dir: out, Store: StoreParams{URL: "file://" + out + "/s.bak"}, WorkFactor: testWF,
			}, deps); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("checkpoint+copy", func(b *testing.B) {
		b.SetBytes(total)
		for i := 0; i < b.N; i++ {
			cp := filepath.Join(b.TempDir(), "cp")
			if _, err := st.Checkpoint(cp); err != nil {
				b.Fatal(err)
			}
			files, _, err := listTree(cp)
			if err != nil {
				b.Fatal(err)
			}
			out := b.TempDir()
			for _, f := range files {
				if err := copyFileSync(filepath.Join(cp, f.rel), filepath.Join(out, f.rel)); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

func copyFileSync(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
