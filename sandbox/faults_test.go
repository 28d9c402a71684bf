package sandbox

import (
	"slices"
	"strconv"
	"testing"

	"github.com/google/uuid"

	"github.com/ssmtui/ssmtui/session/wire"
)

func testFrame(t *testing.T, typ string, seq int64) []byte {
	t.Helper()
	m := wire.Message{MessageType: typ, SchemaVersion: 1, CreatedDate: 1, SequenceNumber: seq, MessageID: uuid.New(), PayloadType: wire.PayloadOutput, Payload: []byte("x")}
	b, err := wire.AppendMessage(nil, &m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// runPipe feeds n stream frames (and an ack after each) through the
// pipe's decision stage and returns what it emitted, as "d<seq>" for data
// and "a<seq>" for acks, ending with a control frame that flushes.
func runPipe(t *testing.T, o FaultOptions, sessionSeq, n int) []string {
	t.Helper()
	p := newPipeCore(o, sessionSeq, dirToClient)
	p.out = make(chan pipeItem, 8*n+16)
	for i := range n {
		p.handle(pipeItem{frame: testFrame(t, wire.TypeOutputStreamData, int64(i))})
		p.handle(pipeItem{frame: testFrame(t, wire.TypeAcknowledge, int64(i))})
	}
	done := false
	p.handle(pipeItem{frame: testFrame(t, wire.TypeChannelClosed, 0), then: func() { done = true }})
	close(p.out)
	var got []string
	var m wire.Message
	for it := range p.out {
		if it.then != nil {
			it.then()
		}
		if err := wire.Decode(it.frame, &m); err != nil {
			t.Fatal(err)
		}
		switch m.MessageType {
		case wire.TypeOutputStreamData:
			got = append(got, "d"+itoa(m.SequenceNumber))
		case wire.TypeAcknowledge:
			got = append(got, "a"+itoa(m.SequenceNumber))
		default:
			got = append(got, m.MessageType)
		}
	}
	if !done || got[len(got)-1] != wire.TypeChannelClosed {
		t.Fatalf("control frame not last or its action not run: %v", got[max(0, len(got)-3):])
	}
	return got
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }

func TestFaultsDeterministic(t *testing.T) {
	o := FaultOptions{Seed: 7, Drop: 0.05, Duplicate: 0.05, Reorder: 0.05, ReorderWindow: 4, WithholdAcks: 0.1}
	a := runPipe(t, o, 3, 2000)
	b := runPipe(t, o, 3, 2000)
	if !slices.Equal(a, b) {
		t.Fatal("same seed and frames gave different faults")
	}
	o.Seed = 8
	if c := runPipe(t, o, 3, 2000); slices.Equal(a, c) {
		t.Fatal("a different seed gave identical faults")
	}
	if d := runPipe(t, FaultOptions{Seed: 7, Drop: 0.05, Duplicate: 0.05, Reorder: 0.05, ReorderWindow: 4, WithholdAcks: 0.1}, 4, 2000); slices.Equal(a, d) {
		t.Fatal("different sessions share one fault sequence")
	}
}

func TestFaultKnobs(t *testing.T) {
	const n = 4000
	count := func(got []string, prefix byte) map[string]int {
		c := map[string]int{}
		for _, g := range got {
			if g[0] == prefix {
				c[g]++
			}
		}
		return c
	}
	near := func(name string, got, want int) {
		t.Helper()
		if got < want/2 || got > want*3/2 {
			t.Errorf("%s: %d, want about %d", name, got, want)
		}
	}
	t.Run("none", func(t *testing.T) {
		got := runPipe(t, FaultOptions{}, 0, n)
		if len(count(got, 'd')) != n || len(count(got, 'a')) != n || len(got) != 2*n+1 {
			t.Fatalf("faults applied with zero knobs: %d frames", len(got))
		}
	})
	t.Run("drop", func(t *testing.T) {
		got := count(runPipe(t, FaultOptions{Seed: 1, Drop: 0.1}, 0, n), 'd')
		near("dropped", n-len(got), n/10)
	})
	t.Run("duplicate", func(t *testing.T) {
		dups := 0
		for _, c := range count(runPipe(t, FaultOptions{Seed: 1, Duplicate: 0.1}, 0, n), 'd') {
			dups += c - 1
		}
		near("duplicated", dups, n/10)
	})
	t.Run("withhold acks", func(t *testing.T) {
		got := runPipe(t, FaultOptions{Seed: 1, WithholdAcks: 0.2}, 0, n)
		near("withheld", n-len(count(got, 'a')), n/5)
		if len(count(got, 'd')) != n {
			t.Fatal("data frames lost")
		}
	})
	t.Run("reorder", func(t *testing.T) {
		got := runPipe(t, FaultOptions{Seed: 1, Reorder: 0.1, ReorderWindow: 2}, 0, n)
		var seqs []string
		for _, g := range got {
			if g[0] == 'd' {
				seqs = append(seqs, g)
			}
		}
		if len(seqs) != n {
			t.Fatalf("reorder lost frames: %d", len(seqs))
		}
		late := 0
		for i := 1; i < len(seqs); i++ {
			if seqIndex(seqs[i]) < seqIndex(seqs[i-1]) {
				late++
			}
		}
		near("reordered", late, n/10)
	})
}

func seqIndex(s string) int {
	n, _ := strconv.Atoi(s[1:])
	return n
}
