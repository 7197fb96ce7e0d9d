// Package sftp implements destination.Destination over SSH with the SFTP
// protocol (github.com/pkg/sftp over golang.org/x/crypto/ssh), for sftp://
// and scp:// URLs.
//
// scp:// uses the SFTP subsystem too: the legacy scp protocol runs a remote
// shell command, cannot rename, stat or remove, and is being retired by
// OpenSSH itself (whose scp has used SFTP by default since 9.0). The scheme
// is accepted because administrators know their servers as "scp targets".
//
// Security:
//   - Password authentication only (the password is also answered to a
//     single-prompt keyboard-interactive challenge). It is never logged and
//     never in an error.
//   - The host key is always verified, never skipped: against a pinned
//     SHA-256 fingerprint (Credentials.HostKey, as `ssh-keygen -lf` prints
//     it) or else against a known_hosts file (Options.KnownHostsFile,
//     default ~/.ssh/known_hosts) through github.com/skeema/knownhosts. An
//     unknown host, a mismatching key and a missing known_hosts file are all
//     destination.ErrHostKey. With a pinned fingerprint the client prefers
//     ssh-ed25519 host keys, then ECDSA, then RSA: pin the fingerprint of
//     the first of those the server has; the error names the key type the
//     server presented.
//
// Upload protocol:
//
//	open    <dir>/.<name>.partial-<16 hex>   CREATE|EXCL, chmod 0600
//	write   pipelined SFTP writes, up to 64 × 32 KiB outstanding
//	fsync   fsync@openssh.com when the server offers it (CommitInfo.Synced)
//	link    hardlink@openssh.com temp → <name>: fails if <name> exists;
//	        then remove temp. Without the extension: SSH_FXP_RENAME, which
//	        the protocol specifies to fail when the target exists (OpenSSH
//	        implements it with link(2) too).
//
// posix-rename@openssh.com is deliberately not used: it replaces an existing
// target, and a committed backup must never be overwritten. A crash leaves
// at most the temporary file, which destination.IsTempName recognises.
//
// The directory is not fsynced: SFTP has no operation for it.
//
// Contexts: Dial honours its context (TCP connect, handshake and
// authentication, bounded by Options.DialTimeout too). Later operations check
// the context between requests; a request in flight is bounded by the
// connection (close the Destination to abandon it).
package sftp
