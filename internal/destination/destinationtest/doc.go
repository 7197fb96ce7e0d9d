// Package destinationtest holds what tests of destinations and of their
// users need: Run, the conformance suite every destination.Destination
// implementation passes; Mem, an in-memory Destination with fault knobs
// (fail after N bytes, fail on commit, block writers on a Gate); and
// StartSFTPServer, an in-process SSH server with the SFTP subsystem on
// 127.0.0.1 with password authentication and a generated host key.
//
// Everything here is test support: it is imported only from _test files.
package destinationtest
