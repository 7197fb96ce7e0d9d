package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// newConfigCommand is `mqsight config get|set|delete`.
func newConfigCommand() *cobra.Command {
	var f adminFlags
	cmd := &cobra.Command{Use: "config", Short: "Read and change a running server's configuration (REST admin API)"}
	f.register(cmd)
	get := &cobra.Command{
		Use:   "get [Type [Name]]",
		Short: "Print the configuration, one type, or one object as JSON",
		Args:  cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(cmd)
			if err != nil {
				return err
			}
			path := "/ima/v1/configuration"
			for _, a := range args {
				path += "/" + url.PathEscape(a)
			}
			data, err := c.do("GET", path, nil)
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), data)
		},
	}
	var file string
	set := &cobra.Command{
		Use:   "set -f file.json",
		Short: "Create or update the objects of a JSON file as one all-or-nothing change",
		Long: "Create or update the objects of a JSON file as one all-or-nothing change. The file may be what\n" +
			"`mqsight config get` printed: read-only properties (ServerUID) that equal the server's are left out;\n" +
			"one that differs stops the command before anything is changed.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var body []byte
			var err error
			if file == "-" {
				body, err = io.ReadAll(cmd.InOrStdin())
			} else {
				body, err = os.ReadFile(file)
			}
			if err != nil {
				return err
			}
			c, err := f.client(cmd)
			if err != nil {
				return err
			}
			if body, err = c.withoutUnchangedReadOnly(body); err != nil {
				return err
			}
			data, err := c.do("POST", "/ima/v1/configuration", body)
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), data)
		},
	}
	set.Flags().StringVarP(&file, "file", "f", "", "JSON file to post (- for standard input)")
	set.MarkFlagRequired("file")
	var discard bool
	del := &cobra.Command{
		Use:   "delete Type Name",
		Short: "Delete one object",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client(cmd)
			if err != nil {
				return err
			}
			path := "/ima/v1/configuration/" + url.PathEscape(args[0]) + "/" + url.PathEscape(args[1])
			if discard {
				path += "?DiscardMessages=true"
			}
			data, err := c.do("DELETE", path, nil)
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), data)
		},
	}
	del.Flags().BoolVar(&discard, "discard-messages", false, "delete a Queue even if it holds messages (they are discarded)")
	cmd.AddCommand(get, set, del)
	return cmd
}

// newStatusCommand is `mqsight status`.
func newStatusCommand() *cobra.Command {
	var f adminFlags
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Print a running server's status (REST admin API)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client(cmd)
			if err != nil {
				return err
			}
			data, err := c.do("GET", "/ima/v1/service/status", nil)
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), data)
		},
	}
	f.register(cmd)
	return cmd
}

// newRestartCommand is `mqsight restart`.
func newRestartCommand() *cobra.Command {
	var (
		f           adminFlags
		maintenance string
		cleanStore  bool
		resetConfig bool
		noWait      bool
	)
	cmd := &cobra.Command{
		Use:   "restart",
		Short: "Restart a running server in-process, optionally entering or leaving maintenance mode or cleaning the store",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := map[string]any{"Service": "Server"}
			switch strings.ToLower(maintenance) {
			case "":
			case "start", "stop":
				req["Maintenance"] = strings.ToLower(maintenance)
			default:
				return fmt.Errorf("--maintenance must be start or stop")
			}
			if cleanStore {
				req["CleanStore"] = true
			}
			if resetConfig {
				req["Reset"] = "config"
			}
			body, _ := json.Marshal(req)
			c, err := f.client(cmd)
			if err != nil {
				return err
			}
			data, err := c.do("POST", "/ima/v1/service/restart", body)
			if err != nil {
				return err
			}
			var r apiReply
			if err := json.Unmarshal(data, &r); err != nil || r.RequestID == "" || noWait {
				return printJSON(cmd.OutOrStdout(), data)
			}
			return waitJob(cmd, c, "restart", r.RequestID)
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&maintenance, "maintenance", "", "start or stop maintenance mode (MQTT endpoints closed, admin API up)")
	cmd.Flags().BoolVar(&cleanStore, "clean-store", false, "delete all messages, sessions and subscriptions (configuration is kept)")
	cmd.Flags().BoolVar(&resetConfig, "reset-config", false, "reset the configuration to the default (implies --clean-store)")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "return once the restart is accepted instead of waiting for it")
	return cmd
}

// waitJob polls a long-running request until it ends, printing its final
// status; a failed or cancelled request is an error.
func waitJob(cmd *cobra.Command, c *adminClient, op, id string) error {
	deadline := time.Now().Add(10 * time.Minute)
	for {
		data, err := c.pollJob(op, id)
		if err != nil {
			return outcomeUnknown(op, id, err)
		}
		var st struct{ Status, Error string }
		if err := json.Unmarshal(data, &st); err != nil {
			return err
		}
		switch st.Status {
		case "succeeded":
			return printJSON(cmd.OutOrStdout(), data)
		case "failed", "cancelled":
			printJSON(cmd.OutOrStdout(), data)
			return fmt.Errorf("%s %s: %s", op, st.Status, st.Error)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s %s still %s after 10 minutes", op, id, st.Status)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
