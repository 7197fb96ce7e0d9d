// Package server is mqsight's composition root. It builds every component
// from the data directory, starts them in dependency order (configuration,
// store, then the components that stand on them) and stops them in reverse
// order. It holds wiring only: behaviour lives in the packages it wires.
//
// A Server owns its data directory exclusively (an advisory lock on
// <datadir>/.lock) so two servers can never share one store:
//
//	<datadir>/.lock         advisory lock of the running server
//	<datadir>/config/       configuration (internal/config) and certificates/
//	<datadir>/store/        the store (internal/store)
//	<datadir>/userfiles/    files uploaded through the admin API
//	<datadir>/maintenance   present while in maintenance mode
//
// # Lifetimes
//
// The data directory lock, the job registry and the admin endpoint live as
// long as the Server. The components — configuration manager, store and
// MQTT engine — are replaced by an in-process restart (POST
// /ima/v1/service/restart, run as a job): the restart waits for admin
// requests that hold the components, closes the engine and the store,
// applies the maintenance / clean store / reset configuration requests,
// reloads the configuration from disk and opens everything again, while
// the admin endpoint keeps answering and status reports each step.
//
// Maintenance mode (MQTT endpoints closed, admin API up) is the presence of
// <datadir>/maintenance, written with temp file, fsync, rename and a
// directory fsync, so it holds across restarts and process starts.
//
// The admin API (internal/admin) reaches the server only through
// adminService, its Service implementation; tests inject listen addresses
// through Options (AdminAddr, Initial) rather than globals.
package server
