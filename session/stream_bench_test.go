package session

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ssmtui/ssmtui/session/wire"
)

// benchStreams measures one direction of a client→agent stream pair.
func benchStreams(b *testing.B, a, c FrameConn) {
	cl := NewStream(StreamConfig{Role: RoleClient})
	ag := NewStream(StreamConfig{Role: RoleAgent})
	defer cl.Close()
	defer ag.Close()
	cl.Attach(a)
	ag.Attach(c)
	const chunk = 64 << 10
	buf := make([]byte, chunk)
	total := b.N * chunk
	done := make(chan error, 1)
	go func() {
		got := 0
		for got < total {
			_, p, err := ag.Recv(context.Background())
			if err != nil {
				done <- err
				return
			}
			got += len(p)
		}
		done <- nil
	}()
	b.SetBytes(chunk)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := cl.Write(context.Background(), wire.PayloadOutput, buf); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

// BenchmarkStreamMemPipe is the stream alone over an in-memory transport.
func BenchmarkStreamMemPipe(b *testing.B) {
	a, c := newFramePipe(256)
	benchStreams(b, a, c)
}

// BenchmarkStreamWebSocket is the stream over a loopback gorilla WebSocket.
func BenchmarkStreamWebSocket(b *testing.B) {
	conns := make(chan *websocket.Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		up := websocket.Upgrader{}
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		conns <- ws
	}))
	defer srv.Close()
	var bc *BatchConn
	d := websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		bc = &BatchConn{Conn: c}
		return bc, err
	}}
	ws, _, err := d.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		b.Fatal(err)
	}
	fc := NewWebSocketFrameConn(ws, 0).(*wsFrameConn)
	fc.batch = bc
	benchStreams(b, fc, NewWebSocketFrameConn(<-conns, 0))
}

// TestStreamCloseWithStuckWriter: Close must not hang when the peer stopped
// reading and the writer is blocked in a socket write.
func TestStreamCloseWithStuckWriter(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		up := websocket.Upgrader{}
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		<-block // never read
		ws.Close()
	}))
	defer srv.Close()
	var bc *BatchConn
	d := websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		bc = &BatchConn{Conn: c}
		return bc, err
	}}
	ws, _, err := d.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	fc := NewWebSocketFrameConn(ws, 0).(*wsFrameConn)
	fc.batch = bc
	s := NewStream(StreamConfig{Window: 64 << 20, MaxUnacked: 1 << 20})
	s.Attach(fc)
	ctx := testCtx(t)
	buf := make([]byte, 1024)
	for range 16 << 10 { // 16 MiB: far more than the socket buffers hold
		s.Send(ctx, wire.PayloadOutput, buf)
	}
	waitFor(t, func() bool { st := s.Stats(); return st.Unacked > 0 })
	time.Sleep(100 * time.Millisecond) // let the writer block in the socket
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close hung behind a blocked socket write")
	}
}
