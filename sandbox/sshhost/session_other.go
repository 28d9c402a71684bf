//go:build !unix

package sshhost

import (
	"log/slog"

	"golang.org/x/crypto/ssh"
)

// supported is false: without PTYs and process groups New returns
// ErrUnsupported, so no session ever reaches serve.
const supported = false

type session struct {
	srv  *Server
	ch   ssh.Channel
	user string
	log  *slog.Logger
}

// serve refuses every request; unreachable in practice (see supported).
func (s *session) serve(reqs <-chan *ssh.Request) {
	for req := range reqs {
		if req.WantReply {
			_ = req.Reply(false, nil)
		}
	}
	_ = s.ch.Close()
}
