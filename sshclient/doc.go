// Package sshclient runs an SSH client (golang.org/x/crypto/ssh) over any
// net.Conn, typically a Session Manager port session to 127.0.0.1:22 on an
// instance. It owns the authentication chain (EC2 Instance Connect, ssh-agent,
// identity files), the ssmtui known_hosts file keyed by instance ID, the
// interactive Shell handed to Bubble Tea with tea.Exec, and Exec for one
// command.
//
// The package never imports the AWS SDK or the session package: the caller
// passes the connection and, for EC2 Instance Connect, a function that pushes
// the ephemeral public key (SendSSHPublicKey). Library code never prints to
// stdout or stderr except the remote session's own output and the escape
// help, written to the writers given to a Shell.
package sshclient
