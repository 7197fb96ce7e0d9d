package main

import (
	"github.com/spf13/cobra"
)

func newRootCommand() *cobra.Command {
	serve := newServeCommand()
	root := &cobra.Command{
		Use:           "mqsight",
		Short:         "mqsight IoT messaging server",
		Long:          "mqsight is an MQTT 3.1.1/5.0 messaging server with a MessageSight-compatible REST admin API\nand secure online backup and restore. Without a subcommand it runs the server (same as `mqsight serve`).",
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE:          serve.RunE,
	}
	root.Flags().AddFlagSet(serve.Flags())
	root.AddCommand(serve, newVersionCommand(), newConfigCommand(), newStatusCommand(), newRestartCommand(),
		newBackupCommand(), newRestoreCommand())
	return root
}
