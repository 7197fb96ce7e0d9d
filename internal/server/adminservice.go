package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/mqsight/mqsight/internal/admin"
	"github.com/mqsight/mqsight/internal/config"
	"github.com/mqsight/mqsight/internal/job"
	"github.com/mqsight/mqsight/internal/mqtt"
)

// adminService is the server as the admin API sees it (admin.Service).
type adminService struct{ s *Server }

var _ admin.Service = adminService{}

func (a adminService) Config() *config.Manager { return a.s.cfg.Load() }

// Acquire holds mu for reading. It never waits for a restart: when one is
// running or waiting (TryRLock fails) or left no components, it fails with
// admin.ErrNotRunning at once.
func (a adminService) Acquire() (admin.Components, func(), error) {
	s := a.s
	if !s.mu.TryRLock() {
		return admin.Components{}, nil, fmt.Errorf("%w: restarting", admin.ErrNotRunning)
	}
	if s.comps == nil {
		s.mu.RUnlock()
		return admin.Components{}, nil, fmt.Errorf("%w: no components", admin.ErrNotRunning)
	}
	c := admin.Components{Config: s.comps.config, Engine: s.comps.mqtt, Store: s.comps.store}
	return c, s.mu.RUnlock, nil
}

func (a adminService) Status() admin.ServerStatus {
	s := a.s
	cur := s.cfg.Load().Current()
	s.stateMu.Lock()
	st, started := s.state, s.started
	s.stateMu.Unlock()
	return admin.ServerStatus{
		Name: cur.ServerName, UID: cur.ServerUID, Status: st.Status, State: st.State,
		StateDescription: st.Description, Started: started, Version: s.opts.Version,
		ErrorCode: st.ErrorCode, ErrorMessage: st.ErrorMsg, HAEnabled: cur.HighAvailability.EnableHA,
	}
}

func (a adminService) Restart(req admin.RestartRequest) (job.Status, error) {
	return a.s.jobs.Start("restart", func(ctx context.Context, p *job.Progress) (map[string]any, error) {
		return a.s.restart(ctx, p, req)
	})
}

func (a adminService) QueueMessages(c admin.Components, queue string) (int, error) {
	return c.Engine.QueueDepth(queue), nil
}

func (a adminService) DiscardQueue(c admin.Components, queue string) error {
	if err := c.Engine.DiscardQueue(queue); err != nil && !errors.Is(err, mqtt.ErrQueueNotFound) {
		return err
	}
	return nil
}
