package main

import (
	"crypto/rand"
	"crypto/sha256"
	"io"
	"log"
	"os"
	"runtime"
	"time"
	"unsafe"

	"filippo.io/age"
)

// The floor: what any backup with the store backup's guarantees must do
// at least, each part timed alone on this machine. A store backup always
// writes a passphrase-protected configuration backup (one scrypt at age's
// default work factor, 2^18), puts the SHA-256 of the store backup in that
// configuration backup's manifest, encrypts the store with age, and is
// durable when it reports success (written and fsynced). The parts can
// overlap on separate cores but not go faster than the slowest of them,
// nor than their CPU time shared by the cores.
type floor struct {
	scrypt, sha, age, write time.Duration
}

// bound is the shortest time a backup doing all four parts could take
// on this machine.
func (f floor) bound() time.Duration {
	cpu := (f.scrypt + f.sha + f.age) / time.Duration(runtime.NumCPU())
	return max(f.scrypt, f.sha, f.write, cpu)
}

// measureFloor times each part for size bytes; the durable write goes to a
// file in dir (removed).
func measureFloor(size int64, dir, password string) floor {
	block := alignedBlock(1 << 20)
	rand.Read(block)
	var f floor
	f.scrypt = timeIt(func() {
		r, err := age.NewScryptRecipient(password)
		if err != nil {
			log.Fatal(err)
		}
		r.SetWorkFactor(18)
		w, err := age.Encrypt(io.Discard, r)
		if err != nil {
			log.Fatal(err)
		}
		w.Close()
	})
	f.sha = timeIt(func() {
		h := sha256.New()
		for n := int64(0); n < size; n += int64(len(block)) {
			h.Write(block)
		}
		h.Sum(nil)
	})
	id, err := age.GenerateX25519Identity()
	if err != nil {
		log.Fatal(err)
	}
	f.age = timeIt(func() {
		w, err := age.Encrypt(io.Discard, id.Recipient())
		if err != nil {
			log.Fatal(err)
		}
		for n := int64(0); n < size; n += int64(len(block)) {
			w.Write(block)
		}
		w.Close()
	})
	path := dir + "/floor-write"
	defer os.Remove(path)
	f.write = timeIt(func() {
		out, err := createDirect(path)
		if err != nil {
			log.Fatal(err)
		}
		for n := int64(0); n < size; n += int64(len(block)) {
			if _, err := out.Write(block); err != nil {
				log.Fatal(err)
			}
		}
		if err := out.Sync(); err != nil {
			log.Fatal(err)
		}
		out.Close()
	})
	return f
}

// alignedBlock returns n bytes starting at a 4 KiB boundary, as O_DIRECT
// writes need.
func alignedBlock(n int) []byte {
	b := make([]byte, n+4096)
	off := (4096 - int(uintptr(unsafe.Pointer(&b[0]))%4096)) % 4096
	return b[off : off+n]
}
