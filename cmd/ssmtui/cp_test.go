package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ssmtui/ssmtui/sandbox"
)

func TestParseCpArg(t *testing.T) {
	for in, want := range map[string]cpArg{
		"web:/tmp/x":      {"web", "/tmp/x"},
		"ec2-user@web:a":  {"ec2-user@web", "a"},
		"i-0123:":         {"i-0123", "."},
		"./a:b":           {"", "./a:b"},
		"/abs/x:y":        {"", "/abs/x:y"},
		"plain.txt":       {"", "plain.txt"},
		":leading-colon":  {"", ":leading-colon"},
		"10.0.1.10:/srv/": {"10.0.1.10", "/srv/"},
	} {
		if got := parseCpArg(in); got != want {
			t.Errorf("%q: %+v, want %+v", in, got, want)
		}
	}
}

// TestCpRoundTrip uploads a 3 MiB file with a mode, checks it on the
// instance with exec, downloads it back byte-exact, and with -p keeps the
// modification time.
func TestCpRoundTrip(t *testing.T) {
	e := newCxEnv(t, sandbox.Options{})
	e.trustHost(t, cxWeb)
	dir := t.TempDir()
	data := make([]byte, 3<<20+123)
	_, _ = rand.Read(data)
	src := filepath.Join(dir, "up.bin")
	if err := os.WriteFile(src, data, 0o640); err != nil {
		t.Fatal(err)
	}
	old := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	if err := os.Chtimes(src, old, old); err != nil {
		t.Fatal(err)
	}
	if r := e.run(t, nil, "cp", "-p", src, "web:up.bin"); r.code != 0 {
		t.Fatalf("upload: code %d stderr %s", r.code, r.stderr)
	}
	sum := sha256.Sum256(data)
	r := e.run(t, nil, "exec", "web", "--", "sha256sum up.bin; stat -c '%a %Y' up.bin")
	want := hex.EncodeToString(sum[:]) + "  up.bin\n640 " + strconv.FormatInt(old.Unix(), 10) + "\n"
	if r.code != 0 || r.stdout != want {
		t.Fatalf("on the instance: code %d\n got %q\nwant %q\nstderr %s", r.code, r.stdout, want, r.stderr)
	}
	back := filepath.Join(dir, "back.bin")
	if r := e.run(t, nil, "cp", "web:up.bin", back); r.code != 0 {
		t.Fatalf("download: code %d stderr %s", r.code, r.stderr)
	}
	got, err := os.ReadFile(back)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("downloaded %d bytes (%v), want the %d uploaded", len(got), err, len(data))
	}
	if fi, _ := os.Stat(back); fi.Mode().Perm() != 0o640 {
		t.Fatalf("downloaded mode %v, want 0640", fi.Mode().Perm())
	}
	// Into an existing directory, keeping the name.
	if r := e.run(t, nil, "cp", "web:up.bin", dir+"/"); r.code != 0 {
		t.Fatalf("download into dir: code %d stderr %s", r.code, r.stderr)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "up.bin")); !bytes.Equal(got, data) {
		t.Fatal("copy into a directory did not keep the name")
	}
}

// TestCpRecursive copies a tree up with -r and back down, including an
// empty directory, and compares every file.
func TestCpRecursive(t *testing.T) {
	e := newCxEnv(t, sandbox.Options{})
	e.trustHost(t, cxWeb)
	dir := t.TempDir()
	tree := map[string]string{"site/index.html": "<h1>hi</h1>", "site/css/a.css": "body{}", "site/js/app.js": strings.Repeat("x", 100000)}
	for p, c := range tree {
		cxWrite(t, filepath.Join(dir, p), c)
	}
	if err := os.MkdirAll(filepath.Join(dir, "site", "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	if r := e.run(t, nil, "cp", filepath.Join(dir, "site"), "web:copy"); r.code != 1 || !strings.Contains(r.stderr, "is a directory (use -r)") {
		t.Fatalf("without -r: code %d stderr %s", r.code, r.stderr)
	}
	if r := e.run(t, nil, "cp", "-r", filepath.Join(dir, "site"), "web:copy"); r.code != 0 {
		t.Fatalf("upload tree: code %d stderr %s", r.code, r.stderr)
	}
	out := filepath.Join(dir, "out")
	if r := e.run(t, nil, "cp", "-r", "web:copy", out); r.code != 0 {
		t.Fatalf("download tree: code %d stderr %s", r.code, r.stderr)
	}
	for p, c := range tree {
		got, err := os.ReadFile(filepath.Join(out, strings.TrimPrefix(p, "site/")))
		if err != nil || string(got) != c {
			t.Errorf("%s: %q, %v", p, got, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(out, "empty")); err != nil || !fi.IsDir() {
		t.Errorf("empty directory not copied: %v", err)
	}
}

func TestCpErrors(t *testing.T) {
	e := newCxEnv(t, sandbox.Options{})
	e.trustHost(t, cxWeb)
	dir := t.TempDir()
	a := filepath.Join(dir, "a")
	cxWrite(t, a, "a")
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"cp", a, filepath.Join(dir, "b")}, 2, "write one as TARGET:PATH"},
		{[]string{"cp", "web:x", "api:y"}, 2, "between two instances"},
		{[]string{"cp", "web:x", "api:y", dir}, 2, "same instance"},
		{[]string{"cp", a}, 2, "needs a SRC and a DST"},
		{[]string{"cp", "web:no-such-file", dir}, 1, "remote no-such-file: file does not exist"},
		{[]string{"cp", a, a, "web:not-a-dir"}, 1, "not a directory"},
		{[]string{"cp", filepath.Join(dir, "missing"), "web:x"}, 1, "file does not exist"},
		{[]string{"cp", a, "web:/proc/forbidden/x"}, 1, "create remote /proc/forbidden/x"},
	} {
		r := e.run(t, nil, c.args...)
		if r.code != c.code || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: code %d stderr %q; want %d and %q", c.args, r.code, r.stderr, c.code, c.want)
		}
	}
	// A download that fails after the local file was created (reading
	// /proc/self/mem at offset 0 fails) leaves no partial file behind.
	r := e.run(t, nil, "cp", "web:/proc/self/mem", filepath.Join(dir, "mem"))
	if r.code != 1 || !strings.Contains(r.stderr, "copy remote /proc/self/mem") {
		t.Errorf("failing read: code %d stderr %q", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "mem")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("partial file left: %v", err)
	}
}

// BenchmarkCp copies 32 MiB up and then down through the sandbox (no added
// latency), connection setup included, and reports MB/s.
func BenchmarkCp(b *testing.B) {
	e := newCxEnv(b, sandbox.Options{})
	e.trustHost(b, cxWeb)
	dir := b.TempDir()
	data := make([]byte, 32<<20)
	_, _ = rand.Read(data)
	src := filepath.Join(dir, "src.bin")
	if err := os.WriteFile(src, data, 0o600); err != nil {
		b.Fatal(err)
	}
	for _, dir2 := range []struct{ name, from, to string }{
		{"upload", src, "web:bench.bin"},
		{"download", "web:bench.bin", filepath.Join(dir, "back.bin")},
	} {
		b.Run(dir2.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if r := e.run(b, nil, "cp", "-q", dir2.from, dir2.to); r.code != 0 {
					b.Fatalf("code %d: %s", r.code, r.stderr)
				}
			}
		})
	}
}

// TestCpSplitsLargeFiles: a file of 8 MiB or more is moved by several
// sessions at once, each with its own range, byte-exact both ways, and
// every session is ended afterwards.
func TestCpSplitsLargeFiles(t *testing.T) {
	e := newCxEnv(t, sandbox.Options{})
	e.trustHost(t, cxWeb)
	dir := t.TempDir()
	data := make([]byte, 20<<20+4321)
	_, _ = rand.Read(data)
	src := filepath.Join(dir, "big.bin")
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	starts := func() int { return e.sb.Stats().Calls["ssm.StartSession"] }
	before := starts()
	if r := e.run(t, nil, "cp", "--sessions", "3", src, "web:big.bin"); r.code != 0 {
		t.Fatalf("upload: code %d stderr %s", r.code, r.stderr)
	}
	if n := starts() - before; n != 3 {
		t.Fatalf("upload used %d sessions, want 3", n)
	}
	sum := sha256.Sum256(data)
	if r := e.run(t, nil, "exec", "web", "--", "sha256sum big.bin"); r.stdout != hex.EncodeToString(sum[:])+"  big.bin\n" {
		t.Fatalf("on the instance: %q (stderr %s)", r.stdout, r.stderr)
	}
	before = starts()
	back := filepath.Join(dir, "back.bin")
	if r := e.run(t, nil, "cp", "--sessions", "3", "web:big.bin", back); r.code != 0 {
		t.Fatalf("download: code %d stderr %s", r.code, r.stderr)
	}
	if n := starts() - before; n != 3 {
		t.Fatalf("download used %d sessions, want 3", n)
	}
	if got, err := os.ReadFile(back); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("downloaded %d bytes (%v), want the %d uploaded", len(got), err, len(data))
	}
	waitCalls(t, e.sb, "ssm.TerminateSession", starts())
}

// BenchmarkCpPacedDownload downloads 8 MiB from an agent that paces its
// output like amazon-ssm-agent (1 KiB per ms per session), with one session
// and with four: the split copy's gain on a real agent.
func BenchmarkCpPacedDownload(b *testing.B) {
	e := newCxEnv(b, sandbox.Options{Gateway: sandbox.GatewayOptions{AgentPacing: sandbox.PacingReal}})
	e.trustHost(b, cxWeb)
	dir := b.TempDir()
	data := make([]byte, 8<<20)
	_, _ = rand.Read(data)
	src := filepath.Join(dir, "src.bin")
	if err := os.WriteFile(src, data, 0o600); err != nil {
		b.Fatal(err)
	}
	if r := e.run(b, nil, "cp", "-q", src, "web:paced.bin"); r.code != 0 {
		b.Fatalf("upload: %s", r.stderr)
	}
	for _, n := range []string{"1", "4"} {
		b.Run("sessions="+n, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if r := e.run(b, nil, "cp", "-q", "--sessions", n, "web:paced.bin", filepath.Join(dir, "back.bin")); r.code != 0 {
					b.Fatalf("code %d: %s", r.code, r.stderr)
				}
			}
		})
	}
}
