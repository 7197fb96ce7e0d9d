package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// jobReconnect is how long the commands that follow a long-running
// request (restart, backup, restore) keep asking for its status while the
// server cannot be reached: a restore stops and starts the components, and
// a supervisor may restart a server that stopped. Bounded, so that a
// script learns in time that the outcome is unknown.
const jobReconnect = 30 * time.Second

// pollJob reads the status of the long-running request op/id. An error
// that says the server could not be reached (refused, reset, timed out, a
// gateway's 502-504) is retried every second until c.reconnect has passed
// since the first one; then the last one is returned, saying so. A 404 after
// such an outage means the server restarted and forgot the request. Every
// error means that the request's outcome is unknown here: callers report it
// with outcomeUnknown.
func (c *adminClient) pollJob(op, id string) ([]byte, error) {
	var lostSince time.Time
	for {
		data, err := c.do("GET", "/ima/v1/service/status/"+op+"/"+id, nil)
		if err == nil {
			return data, nil
		}
		var refused *replyError
		if !lostSince.IsZero() && errors.As(err, &refused) && refused.status == http.StatusNotFound {
			return nil, fmt.Errorf("the server could not be reached for %s, and then %w: %w",
				time.Since(lostSince).Round(time.Second), errJobForgotten, err)
		}
		if !unreachable(err) {
			return nil, err
		}
		if lostSince.IsZero() {
			lostSince = time.Now()
		}
		if time.Since(lostSince) >= c.reconnect {
			return nil, fmt.Errorf("the server could not be reached for %s: %w", time.Since(lostSince).Round(time.Second), err)
		}
		time.Sleep(min(time.Second, c.reconnect/10))
	}
}

// unreachable reports whether err says that the server could not be
// reached, rather than that it answered or that it is not the one trusted
// (a certificate error does not go away by asking again).
func unreachable(err error) bool {
	var refused *replyError
	if errors.As(err, &refused) {
		switch refused.status {
		case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return false
	}
	var op *net.OpError
	var ue *url.Error
	return errors.As(err, &op) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.As(err, &ue) && ue.Timeout()
}

// errJobForgotten: the server was restarted while the request ran and
// no longer knows it.
var errJobForgotten = errors.New("the server was restarted meanwhile and no longer knows the request")

// outcomeUnknown is the error of a command whose long-running request
// op/id the server accepted, when its status could not be read (err).
func outcomeUnknown(op, id string, err error) error {
	return &unknownOutcomeError{op: op, id: id, err: err}
}

type unknownOutcomeError struct {
	op, id string
	err    error
}

func (e *unknownOutcomeError) Error() string {
	check := fmt.Sprintf("check GET /ima/v1/service/status/%s/%s (kept until the server restarts), `mqsight status` and the server log", e.op, e.id)
	if errors.Is(e.err, errJobForgotten) {
		check = "check `mqsight status` and the server log"
	}
	return fmt.Sprintf("the %s (RequestID %s) was accepted, but its outcome is unknown here: %s; %s",
		e.op, e.id, strings.TrimSuffix(e.err.Error(), "."), check)
}

func (e *unknownOutcomeError) Unwrap() error { return e.err }
