package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mqsight/mqsight/internal/archive"
	"github.com/mqsight/mqsight/internal/config"
	"github.com/mqsight/mqsight/internal/store"
)

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the server version and the configuration, store and backup format versions",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "mqsight %s\n", version)
			fmt.Fprintf(out, "configuration format %d\n", config.FormatVersion)
			fmt.Fprintf(out, "store format %d\n", store.FormatVersion)
			fmt.Fprintf(out, "backup format %d (reads 1 to %d)\n", archive.FormatVersion, archive.FormatVersion)
		},
	}
}
