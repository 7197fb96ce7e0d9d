// Command mqsight is the mqsight messaging server and its administration
// client. `mqsight` alone (or `mqsight serve`) runs the server; the other
// subcommands talk to a running server or inspect files offline.
package main

import (
	"fmt"
	"os"
)

// version is set at link time (-ldflags "-X main.version=...") for releases.
var version = "0.1.0-dev"

func main() {
	if err := newRootCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "mqsight:", err)
		os.Exit(1)
	}
}
