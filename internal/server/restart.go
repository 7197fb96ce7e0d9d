package server

import (
	"context"
	"fmt"
	"time"

	"github.com/mqsight/mqsight/internal/admin"
	"github.com/mqsight/mqsight/internal/job"
)

// runState is what GET /ima/v1/service/status reports about the server's
// life. State numbers follow MessageSight's: 0 initializing, 1 running,
// 2 stopping, 9 maintenance (also after a failed start, with ErrorCode
// set).
type runState struct {
	Status      string
	State       int
	Description string
	ErrorCode   int
	ErrorMsg    string
}

// The steady states. Functions, not package variables: no package state.
func stateStarting() runState {
	return runState{Status: "Starting", State: 0, Description: "Initializing"}
}

func stateRunning(maintenance bool) runState {
	if maintenance {
		return runState{Status: "Running", State: 9, Description: "Running (maintenance)"}
	}
	return runState{Status: "Running", State: 1, Description: "Running (production)"}
}

func (s *Server) setState(st runState) {
	s.stateMu.Lock()
	s.state = st
	s.stateMu.Unlock()
}

// setRunning records a completed start.
func (s *Server) setRunning(maintenance bool) {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	s.state = stateRunning(maintenance)
	s.started = time.Now()
}

// step reports restart progress in both the job and the server status.
func (s *Server) step(p *job.Progress, status, desc string) {
	p.SetStep(desc)
	state := 0 // initializing
	if status == "Stopping" {
		state = 2
	}
	s.setState(runState{Status: status, State: state, Description: desc})
	s.log.Info("restart", "step", desc)
}

// restart re-initialises the components in-process: it waits for admin
// requests that hold them, closes the engine and the store, applies the
// maintenance, reset and clean requests, reloads the configuration from
// disk and opens everything again. The admin endpoint stays up and status
// reports each step. It does not stop half way for ctx: a restart left
// half done would leave the server without components.
//
// A failure leaves the server in maintenance state with ErrorCode set and
// no components (requests that need them get 503); another restart may
// then succeed.
func (s *Server) restart(_ context.Context, p *job.Progress, req admin.RestartRequest) (map[string]any, error) {
	s.step(p, "Stopping", "Stopping for restart")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.comps != nil {
		if err := s.comps.close(); err != nil {
			s.log.Error("restart: closing components", "err", err)
		}
		s.comps = nil
	}
	fail := func(err error) (map[string]any, error) {
		s.setState(runState{Status: "Running", State: 9, Description: "Running (maintenance)", ErrorCode: 1, ErrorMsg: err.Error()})
		s.log.Error("restart failed; the server is in maintenance", "err", err)
		return nil, err
	}

	maintenance := s.maintenance
	if req.Maintenance != "" {
		maintenance = req.Maintenance == "start"
		if err := s.dir.setMaintenance(maintenance, time.Now()); err != nil {
			return fail(err)
		}
		s.maintenance = maintenance
	}
	if req.ResetConfig {
		s.step(p, "Starting", "Resetting configuration")
		if err := s.resetConfig(); err != nil {
			return fail(err)
		}
	}

	s.step(p, "Starting", "Loading configuration")
	m, _, _, err := s.openConfig()
	if err != nil {
		return fail(err)
	}
	s.cfg.Store(m)
	comps := &components{config: m}

	s.step(p, "Starting", "Opening store")
	if comps.store, err = s.openStore(); err != nil {
		return fail(err)
	}
	if req.CleanStore {
		s.step(p, "Starting", "Cleaning store")
		if err := comps.store.Clean(); err != nil {
			comps.close()
			return fail(fmt.Errorf("clean store: %w", err))
		}
		s.log.Warn("store cleaned: messages, sessions and subscriptions deleted", "storeUID", comps.store.UID())
	}
	s.step(p, "Starting", "Recovering messaging state")
	if comps.mqtt, err = s.openEngine(comps.store, m); err != nil {
		comps.close()
		return fail(err)
	}
	comps.start(s, maintenance)
	s.comps = comps
	s.setRunning(maintenance)
	p.SetStep("done")
	s.log.Info("restart complete", "maintenance", maintenance, "cleanStore", req.CleanStore, "resetConfig", req.ResetConfig)
	return map[string]any{"Maintenance": maintenance, "CleanStore": req.CleanStore, "ResetConfig": req.ResetConfig}, nil
}

// resetConfig replaces the configuration by the embedded default. It keeps
// what identifies and reaches this server: ServerUID, the AdminUsers and
// the AdminEndpoint's Interface and Port (its SecurityProfile goes, with
// every other object, so the admin endpoint falls back to the self-signed
// certificate).
func (s *Server) resetConfig() error {
	cur := s.cfg.Load().Current()
	c, err := s.defaultConfig()
	if err != nil {
		return err
	}
	c.AdminUsers = cur.Clone().AdminUsers
	c.AdminEndpoint.Interface = cur.AdminEndpoint.Interface
	c.AdminEndpoint.Port = cur.AdminEndpoint.Port
	c.AdminEndpoint.SecurityProfile = ""
	c.ServerUID = "" // Replace keeps the current one
	if err := s.cfg.Load().Replace(c); err != nil {
		return fmt.Errorf("reset configuration: %w", err)
	}
	return nil
}
