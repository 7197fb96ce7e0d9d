package destinationtest

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/mqsight/mqsight/internal/destination"
)

func TestMemConformance(t *testing.T) {
	Run(t, func(t *testing.T) destination.Destination { return NewMem() }, InProcessStorage(), LargeSize(8<<20))
}

func TestMemFailAfter(t *testing.T) {
	m := NewMem()
	m.SetFaults(Faults{FailWrites: true, FailAfter: 10})
	up, err := m.Create(context.Background(), "obj")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := up.Write([]byte("123456")); n != 6 || err != nil {
		t.Fatalf("first write = %d, %v", n, err)
	}
	if len(m.Partials()) != 1 {
		t.Errorf("Partials = %v during an upload", m.Partials())
	}
	n, err := up.Write([]byte("7890abc"))
	if n != 4 || !errors.Is(err, ErrInjected) {
		t.Fatalf("second write = %d, %v; want 4, ErrInjected", n, err)
	}
	if _, err := up.Commit(); !errors.Is(err, ErrInjected) {
		t.Errorf("Commit after failed write = %v", err)
	}
	if len(m.Names()) != 0 || len(m.Partials()) != 0 {
		t.Errorf("after failed upload: names %v partials %v", m.Names(), m.Partials())
	}
}

func TestMemFailCommit(t *testing.T) {
	m := NewMem()
	m.SetFaults(Faults{FailCommit: true})
	up, _ := m.Create(context.Background(), "obj")
	up.Write([]byte("data"))
	if _, err := up.Commit(); !errors.Is(err, ErrInjected) {
		t.Fatalf("Commit = %v, want ErrInjected", err)
	}
	if _, err := m.Stat(context.Background(), "obj"); !errors.Is(err, destination.ErrNotFound) {
		t.Errorf("Stat after failed commit = %v", err)
	}
	m.SetFaults(Faults{})
	Put(t, m, "obj", []byte("ok"))
}

func TestMemGate(t *testing.T) {
	m := NewMem()
	g := NewGate()
	m.SetFaults(Faults{Gate: g})
	up, _ := m.Create(context.Background(), "obj")
	done := make(chan error, 1)
	go func() {
		_, err := up.Write([]byte("held"))
		done <- err
	}()
	<-g.Reached()
	select {
	case err := <-done:
		t.Fatalf("write passed a closed gate: %v", err)
	default:
	}
	g.Release()
	if err := <-done; err != nil {
		t.Fatalf("write after release: %v", err)
	}
	up.Commit()
	if got := Get(t, m, "obj"); !bytes.Equal(got, []byte("held")) {
		t.Errorf("got %q", got)
	}

	// A blocked write returns when the upload's context ends.
	g2 := NewGate()
	m.SetFaults(Faults{Gate: g2})
	ctx, cancel := context.WithCancel(context.Background())
	up2, _ := m.Create(ctx, "obj2")
	go func() {
		_, err := up2.Write([]byte("x"))
		done <- err
	}()
	<-g2.Reached()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("blocked write after cancel = %v", err)
	}
	up2.Abort()
	if len(m.Partials()) != 0 {
		t.Errorf("partials left: %v", m.Partials())
	}
}
