//go:build deps

// Package deps pins the chosen stack in go.mod while the packages that use it
// are being written; it is never built. Remove it once every module here is
// imported by real code.
package deps

import (
	_ "charm.land/bubbles/v2/help"
	_ "charm.land/bubbles/v2/spinner"
	_ "charm.land/bubbles/v2/table"
	_ "charm.land/bubbles/v2/textinput"
	_ "charm.land/bubbletea/v2"
	_ "charm.land/lipgloss/v2"
	_ "github.com/aws/aws-sdk-go-v2/config"
	_ "github.com/aws/aws-sdk-go-v2/service/ec2"
	_ "github.com/aws/aws-sdk-go-v2/service/ec2instanceconnect"
	_ "github.com/aws/aws-sdk-go-v2/service/ssm"
	_ "github.com/aws/aws-sdk-go-v2/service/sts"
	_ "github.com/charmbracelet/x/ansi"
	_ "github.com/charmbracelet/x/exp/golden"
	_ "github.com/charmbracelet/x/exp/teatest/v2"
	_ "github.com/creack/pty"
	_ "github.com/gorilla/websocket"
	_ "github.com/muesli/cancelreader"
	_ "github.com/pkg/sftp"
	_ "github.com/sahilm/fuzzy"
	_ "github.com/xtaci/smux"
	_ "golang.org/x/crypto/ssh"
	_ "golang.org/x/crypto/ssh/agent"
	_ "golang.org/x/crypto/ssh/knownhosts"
	_ "golang.org/x/net/nettest"
	_ "golang.org/x/term"
)
