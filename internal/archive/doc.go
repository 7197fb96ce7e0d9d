// Package archive is the mqsight backup file format: a streaming,
// passphrase-encrypted container of named entries with a JSON manifest. Both
// the configuration backup (imaBackup.*) and the store backup (the Pebble
// checkpoint files) are archives; they differ only in Kind and manifest.
//
// The package does I/O only: it knows nothing of configuration objects or the
// store. Encryption and authentication are filippo.io/age with a scrypt
// passphrase recipient, or (format 2, store backups) an X25519 Key that the
// caller keeps elsewhere (see Key); a thin cleartext envelope around the age stream lets
// a reader tell a wrong password, a truncated file and a modified byte apart,
// which age alone cannot (a damaged scrypt stanza looks like a wrong
// password; a cut inside the last chunk looks like tampering).
//
// # Reading contract
//
// Entry data is handed out as it is decrypted, before the end of the file is
// authenticated. A consumer must stage entries and apply NOTHING until
// Reader.Next has returned io.EOF: only then have the authenticated end
// record and the trailer been checked. Any other error means: discard
// everything read from this archive.
//
// # File layout (format version 2; version 1 differs only in that its age
// header always has a scrypt stanza)
//
// All integers are big-endian. Lengths are bounded and checked before any
// allocation.
//
//	+------------------------------------------------------------------+
//	| envelope header, 52 bytes, cleartext                              |
//	|   0  8  magic 89 4D 51 53 42 4B 0D 0A  ("\x89MQSBK\r\n")          |
//	|   8  2  format version (2; 1 is read too)                         |
//	|  10  2  flags (0)                                                 |
//	|  12  4  A = length of the age header incl. nonce, 1..1024        |
//	|  16 32  SHA-256 of those A bytes                                  |
//	|  48  4  CRC-32C (Castagnoli) of bytes 0..47                       |
//	+------------------------------------------------------------------+
//	| age stream (an ordinary age v1 file, `age -d` can decrypt it)     |
//	|   A bytes   age header: "age-encryption.org/v1", one stanza:      |
//	|             scrypt (salt, work factor) for a passphrase, or       |
//	|             X25519 for a Key; "--- " header MAC, then the         |
//	|             16-byte payload nonce                                 |
//	|   ...       payload: ChaCha20-Poly1305 chunks of 64 KiB plaintext |
//	|             + 16-byte tag each; the last chunk is flagged, so the |
//	|             end of the plaintext is authenticated                 |
//	+------------------------------------------------------------------+
//	| trailer, 52 bytes, cleartext                                      |
//	|   0  8  magic "MQSBKEND"                                          |
//	|   8  8  L = bytes before the trailer (52 + A + payload)           |
//	|  16 32  SHA-256 of those L bytes (envelope header + age stream)   |
//	|  48  4  CRC-32C of bytes 0..47                                    |
//	+------------------------------------------------------------------+
//
// Bytes 0..9 (magic, version) and the CRC at 48..51 over bytes 0..47 are
// stable in every future version, so any reader can verify the header of a
// newer file and then refuse it with ErrNewerFormat.
//
// The age plaintext is the inner container:
//
//	inner header, 12 bytes
//	   0  8  magic "MQSINNER"
//	   8  1  kind: 1 = config, 2 = store
//	   9  3  reserved, zero
//	entry record, one per entry; manifest.json is always the first
//	   0  1  type 0x01
//	   1  2  N = name length, 1..4096
//	   3  N  name: clean relative slash-separated path (fs.ValidPath), unique
//	 3+N  4  mode: permission bits only
//	 7+N  8  S = data size, 0..2^44
//	15+N  S  data
//	end record, 17 bytes, then the plaintext ends
//	   0  1  type 0x02
//	   1  8  number of entries, manifest included
//	   9  8  total data bytes of all entries, manifest included
//
// The end record makes a dropped, duplicated or reordered record detectable
// even though every age chunk is individually authentic. manifest.json is
// at most 1 MiB of JSON (see Manifest); unknown fields are ignored.
//
// # How damage is classified
//
// The reader reads the file once, through one SHA-256, and keeps a 52-byte
// lookahead so that the age stream it hands to age never includes the
// trailer. At the end the running sum is compared with the trailer, then
// continued over the trailer: that is the whole file's digest (Reader.SHA256,
// Writer.SHA256), which a configuration manifest records for its store
// backup. Writer and reader thus hash each byte once.
//
//   - Magic wrong: ErrNotBackup, unless the header's CRC verifies with our
//     magic substituted (a damaged magic: ErrTampered). Input shorter than
//     the magic but equal to a prefix of it, including empty: ErrTruncated.
//   - Header short: ErrTruncated; CRC mismatch: ErrTampered; version above
//     FormatVersion: ErrNewerFormat ("backup format version 3 is newer than
//     this server's 2"); other bad fields: ErrCorrupt.
//   - Age header short: ErrTruncated; its SHA-256 mismatch: ErrTampered.
//     Because it is intact, age failing to unwrap the key now means
//     ErrWrongPassword (scrypt stanza) or ErrWrongKey (X25519 stanza) —
//     reported by NewReader before any payload is read.
//   - Payload: when age fails, the reader drains the rest of the input
//     through the hash, then: no valid trailer at the end of the input →
//     ErrTruncated; a valid trailer whose length or SHA-256 differs →
//     ErrTampered. When age succeeds but the trailer is invalid →
//     ErrTampered.
//   - Authentic plaintext that breaks the container rules: ErrCorrupt (a
//     writer bug or a deliberately crafted file).
//
// The cleartext checksums classify accidental damage; security rests on
// age. Someone who recomputes the checksums can make a modified file read as
// ErrWrongPassword or ErrCorrupt, never as valid. Bytes appended after the
// trailer read as ErrTruncated (the trailer is no longer last).
//
// Read errors of the underlying io.Reader are returned as such, never
// classified. ErrTruncated and ErrTampered in the payload can only be known
// at the end of the file, so those errors cost a full read.
package archive
