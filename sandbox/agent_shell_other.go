//go:build !unix

package sandbox

import "context"

// runShell needs a PTY; on systems without one the session fails with a
// clear message (port sessions work everywhere).
func (a *agent) runShell(ctx context.Context) error {
	return failf("Shell sessions in the ssmtui sandbox need a unix system (a PTY); use a port session instead.")
}
