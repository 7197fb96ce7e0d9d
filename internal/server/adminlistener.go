package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/mqsight/mqsight/internal/admin"
	"github.com/mqsight/mqsight/internal/config"
)

// adminListener is the admin endpoint: an HTTPS (or, for development,
// HTTP) server of the admin API. It is started once by Start and keeps
// running across restarts of the components; changes of the AdminEndpoint's
// Interface and Port apply at the next process start, changes of its
// certificate at the next TLS handshake.
type adminListener struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

// adminAddr is where the admin endpoint listens.
func (s *Server) adminAddr() string {
	if s.opts.AdminAddr != "" {
		return s.opts.AdminAddr
	}
	ae := s.cfg.Load().Current().AdminEndpoint
	host := ae.Interface
	if host == "All" || host == "*" {
		host = ""
	}
	return net.JoinHostPort(host, strconv.Itoa(ae.Port))
}

func (s *Server) startAdmin() (*adminListener, error) {
	addr := s.adminAddr()
	srv := &http.Server{
		Handler:           s.api,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	var fingerprint string
	if !s.opts.AdminInsecureHTTP {
		conf, err := admin.TLSConfig(func() *config.Config { return s.cfg.Load().Current() }, s.cfg.Load().CertificateDir(), s.log)
		if err != nil {
			return nil, fmt.Errorf("admin endpoint certificate: %w", err)
		}
		cert, err := conf.GetCertificate(nil)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(cert.Certificate[0])
		fingerprint = hex.EncodeToString(sum[:])
		srv.TLSConfig = conf
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin endpoint: listen on %s: %w", addr, err)
	}
	l := &adminListener{srv: srv, ln: ln, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		var err error
		if srv.TLSConfig != nil {
			err = srv.ServeTLS(ln, "", "")
		} else {
			err = srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("admin endpoint stopped", "err", err)
		}
	}()
	if s.opts.AdminInsecureHTTP {
		s.log.Warn("!!! ADMIN API SERVED OVER PLAIN HTTP (--admin-insecure-http): passwords cross the network in clear; for local development only !!!",
			"addr", ln.Addr().String())
	} else {
		s.log.Info("admin endpoint listening", "addr", ln.Addr().String(), "tls", true, "certSHA256", fingerprint)
	}
	return l, nil
}

// close stops accepting, lets requests in flight finish (5 s at most) and
// closes what remains.
func (l *adminListener) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := l.srv.Shutdown(ctx)
	if err != nil {
		l.srv.Close()
	}
	<-l.done
	if errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return err
}

// AdminAddr returns the admin endpoint's bound address (nil before Start).
func (s *Server) AdminAddr() net.Addr {
	if s.adminSrv == nil {
		return nil
	}
	return s.adminSrv.ln.Addr()
}
