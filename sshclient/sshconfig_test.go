package sshclient

import (
	"path/filepath"
	"slices"
	"testing"
)

func TestReadSSHConfig(t *testing.T) {
	dir := t.TempDir()
	sshDir := filepath.Join(dir, ".ssh")
	writeFile(t, filepath.Join(sshDir, "config"), `# top comment
Host i-0aaa* !i-0aaabad
    User alice
    IdentityFile ~/.ssh/alice
Host=web-*
  User = webuser
  IdentityFile "~/.ssh/with space"
  IdentitiesOnly yes
Match exec "touch /tmp/pwned"
  User evil
Match host db-1,db-2
  User dbadmin
Match all
Include conf.d/*.conf
Host *
  User fallback
  IdentityFile ~/.ssh/common
`)
	writeFile(t, filepath.Join(sshDir, "conf.d", "extra.conf"), "Host staging-*\n  User stage\n")

	for name, tc := range map[string]struct {
		aliases []string
		want    hostSettings
	}{
		"instance ID pattern": {[]string{"i-0aaa111", ""},
			hostSettings{User: "alice", IdentityFiles: []string{"~/.ssh/alice", "~/.ssh/common"}}},
		"negated pattern": {[]string{"i-0aaabad", ""},
			hostSettings{User: "fallback", IdentityFiles: []string{"~/.ssh/common"}}},
		"Name matches": {[]string{"i-0bbb", "web-3"},
			hostSettings{User: "webuser", IdentityFiles: []string{"~/.ssh/with space", "~/.ssh/common"}, IdentitiesOnly: true}},
		"Match host": {[]string{"i-0ccc", "db-2"},
			hostSettings{User: "dbadmin", IdentityFiles: []string{"~/.ssh/common"}}},
		"Include": {[]string{"i-0ddd", "staging-1"},
			hostSettings{User: "stage", IdentityFiles: []string{"~/.ssh/common"}}},
		"first value wins, case-insensitive names": {[]string{"I-0AAA9", "web-1"},
			hostSettings{User: "alice", IdentityFiles: []string{"~/.ssh/alice", "~/.ssh/with space", "~/.ssh/common"}, IdentitiesOnly: true}},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := readSSHConfig(filepath.Join(sshDir, "config"), tc.aliases)
			if err != nil {
				t.Fatal(err)
			}
			if got.User != tc.want.User || got.IdentitiesOnly != tc.want.IdentitiesOnly ||
				!slices.Equal(got.IdentityFiles, tc.want.IdentityFiles) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}

	if got, err := readSSHConfig(filepath.Join(dir, "missing"), []string{"x"}); err != nil || got.User != "" {
		t.Fatalf("missing config = %+v, %v; want empty, nil", got, err)
	}
}

func TestExpandIdentityPath(t *testing.T) {
	for in, want := range map[string]string{
		"~/.ssh/id":        "/home/me/.ssh/id",
		"%d/k/%h-%r":       "/home/me/k/i-01-ec2-user",
		"/abs/%u%%":        "/abs/me%",
		"relative/key":     "relative/key",
		"/keep/%x/unknown": "/keep/%x/unknown",
	} {
		if got := expandIdentityPath(in, "/home/me", "me", "i-01", "ec2-user"); got != want {
			t.Errorf("expandIdentityPath(%q) = %q, want %q", in, got, want)
		}
	}
}
