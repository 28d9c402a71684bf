package session

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// DefaultPingInterval is how often a client WebSocket sends a keepalive
// ping (the plugin uses 5 minutes; shorter keeps idle NAT mappings alive).
const DefaultPingInterval = time.Minute

// wsFrameConn adapts a gorilla WebSocket to FrameConn.
type wsFrameConn struct {
	ws        *websocket.Conn
	closeOnce sync.Once
	stop      chan struct{}
	pingDone  chan struct{}
}

// NewWebSocketFrameConn adapts ws to a [FrameConn]: binary messages are
// frames, text messages are skipped, and a "keepalive" ping is sent every
// pingInterval (none if ≤ 0) until Close. Close sends a best-effort close
// frame and closes the socket; it is idempotent.
func NewWebSocketFrameConn(ws *websocket.Conn, pingInterval time.Duration) FrameConn {
	c := &wsFrameConn{ws: ws, stop: make(chan struct{}), pingDone: make(chan struct{})}
	if pingInterval > 0 {
		go c.pinger(pingInterval)
	} else {
		close(c.pingDone)
	}
	return c
}

func (c *wsFrameConn) pinger(every time.Duration) {
	defer close(c.pingDone)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := c.ws.WriteControl(websocket.PingMessage, []byte("keepalive"), time.Now().Add(10*time.Second)); err != nil {
			return
		}
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
	}
}

func (c *wsFrameConn) ReadMessage() ([]byte, error) {
	for {
		mt, b, err := c.ws.ReadMessage()
		if err != nil {
			return nil, err
		}
		if mt == websocket.BinaryMessage {
			return b, nil
		}
	}
}

func (c *wsFrameConn) WriteMessage(frame []byte) error {
	return c.ws.WriteMessage(websocket.BinaryMessage, frame)
}

func (c *wsFrameConn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		close(c.stop)
		_ = c.ws.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(250*time.Millisecond))
		err = c.ws.Close()
		<-c.pingDone
	})
	return err
}
