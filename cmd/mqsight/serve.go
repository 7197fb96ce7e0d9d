package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/mqsight/mqsight/internal/failpoint"
	"github.com/mqsight/mqsight/internal/server"
)

func newServeCommand() *cobra.Command {
	var (
		dataDir       string
		logLevel      string
		adminAddr     string
		adminInsecure bool
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the server (the default command)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// The configuration's LogLevel sets the level, unless
			// --log-level fixes it.
			level := new(slog.LevelVar)
			follow := level
			if cmd.Flags().Changed("log-level") {
				var l slog.Level
				if err := l.UnmarshalText([]byte(logLevel)); err != nil {
					return err
				}
				level.Set(l)
				follow = nil
			}
			logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			fps, err := failpoint.FromEnv()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return server.Run(ctx, server.Options{
				DataDir:       dataDir,
				Version:       version,
				Logger:        logger,
				AdminPassword: os.Getenv("MQSIGHT_ADMIN_PASSWORD"),
				Failpoints:    fps,
				AdminAddr:     adminAddr,
				// Plain HTTP only on explicit request; the server logs a loud warning.
				AdminInsecureHTTP: adminInsecure,
				LogLevel:          follow,
			})
		},
	}
	def := os.Getenv("MQSIGHT_DATA_DIR")
	if def == "" {
		def = "./mqsight-data"
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", def, "data directory (env MQSIGHT_DATA_DIR)")
	cmd.Flags().StringVar(&logLevel, "log-level", "", "log level: debug, info, warn, error (default: the configuration's LogLevel, MIN=warn, NORMAL=info, MAX=debug)")
	cmd.Flags().StringVar(&adminAddr, "admin-addr", "", "admin endpoint listen address host:port (default: the AdminEndpoint configuration)")
	cmd.Flags().BoolVar(&adminInsecure, "admin-insecure-http", false, "serve the admin API over plain HTTP (local development only: passwords travel in clear)")
	return cmd
}
