// Package server is mqsight's composition root. It builds every component
// from the data directory, starts them in dependency order (configuration,
// store, then the components that stand on them) and stops them in reverse
// order. It holds wiring only: behaviour lives in the packages it wires.
//
// A Server owns its data directory exclusively (an advisory lock on
// <datadir>/.lock) so two servers can never share one store.
package server
