package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"
)

func init() {
	register(command{
		name:    "cp",
		summary: "copy files to or from an instance over SFTP (like scp)",
		run:     runCp,
	})
}

// cpArg is one operand: a local path, or [USER@]TARGET:PATH.
type cpArg struct {
	target string // "" for a local path; may carry USER@
	path   string
}

// parseCpArg follows scp: a ':' before any '/' makes the operand remote;
// "./a:b" and "/x:y" are local.
func parseCpArg(s string) cpArg {
	colon := strings.IndexByte(s, ':')
	if colon <= 0 || strings.Contains(s[:colon], "/") {
		return cpArg{path: s}
	}
	p := s[colon+1:]
	if p == "" {
		p = "."
	}
	return cpArg{target: s[:colon], path: p}
}

// runCp is `ssmtui cp [-r] [-p] SRC… DST`: every SRC on one side, DST on the
// other, exactly one side remote. As with scp, DST is a directory to copy
// into when it exists as one (required with several sources), else the new
// name. File modes are kept; -p keeps modification times too. A file whose
// copy fails or is interrupted is removed rather than left truncated.
func runCp(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "ssmtui cp",
		"usage: ssmtui cp [flags] SRC… DST",
		"\nCopies over SFTP inside a Session Manager session; one side is [USER@]TARGET:PATH:",
		"  ssmtui cp ./build.tar web:/tmp/           upload",
		"  ssmtui cp -r web:/var/log/app ./logs      download a directory",
		"Relative remote paths start in the login user's home directory.",
	)
	var f sshFlags
	f.register(fs)
	recursive := fs.Bool("r", false, "copy directories recursively")
	preserve := fs.Bool("p", false, "keep modification times (modes are always kept)")
	quiet := fs.Bool("q", false, "no progress line")
	sessions := fs.Int("sessions", 4, "Session Manager `sessions` that share each file of 8 MiB or more (1: one session for everything)")
	pos, rest, err := parseInterspersed(fs, args)
	if err != nil {
		return flagError(err)
	}
	pos = append(pos, rest...)
	if len(pos) < 2 {
		fs.Usage()
		return usageError("cp needs a SRC and a DST")
	}
	srcs := make([]cpArg, 0, len(pos)-1)
	for _, s := range pos[:len(pos)-1] {
		srcs = append(srcs, parseCpArg(s))
	}
	dst := parseCpArg(pos[len(pos)-1])
	remote := dst.target
	upload := remote != ""
	for _, s := range srcs {
		switch {
		case upload && s.target != "":
			return usageError("copying between two instances is not supported (%s:%s → %s:%s); copy through this machine", s.target, s.path, dst.target, dst.path)
		case !upload && s.target == "":
			return usageError("neither %s nor %s is on an instance; write one as TARGET:PATH", s.path, dst.path)
		case !upload && remote == "":
			remote = s.target
		case !upload && s.target != remote:
			return usageError("all sources must be on the same instance (%s and %s)", remote, s.target)
		}
	}
	log, closeLog := commandLogger(env, f.debug)
	defer closeLog()
	client, err := openSSH(ctx, env, f, remote, log)
	if err != nil {
		return err
	}
	defer client.Close()
	sc, err := sftp.NewClient(client.SSH(), sftp.UseConcurrentWrites(true))
	if err != nil {
		return transportError(fmt.Errorf("start SFTP on %s: %w (is the sftp subsystem enabled in sshd?)", client.InstanceID(), err))
	}
	defer sc.Close()
	stop := context.AfterFunc(ctx, func() { _ = sc.Close() })
	defer stop()

	c := &copier{sftp: sc, recursive: *recursive, preserve: *preserve, upload: upload, sessions: max(*sessions, 1)}
	// Large files are split over extra sessions, opened on first need:
	// an agent paces each session's output (about 1 MB/s for a real one).
	c.openExtra = func() (*sftp.Client, func(), error) {
		ec, err := openSSH(ctx, env, f, remote, log)
		if err != nil {
			return nil, nil, err
		}
		esc, err := sftp.NewClient(ec.SSH(), sftp.UseConcurrentWrites(true))
		if err != nil {
			_ = ec.Close()
			return nil, nil, fmt.Errorf("start SFTP: %w", err)
		}
		return esc, func() { _ = esc.Close(); _ = ec.Close() }, nil
	}
	defer c.closeExtras()
	if !*quiet && isTerminal(env.stderr) {
		c.progress = &progressLine{w: env.stderr}
	}
	var local fsys = localFS{}
	var far fsys = remoteFS{sc}
	from, to := local, far
	if !upload {
		from, to = far, local
	}
	err = c.copyAll(from, to, srcs, dst.path)
	if c.progress != nil {
		c.progress.done()
	}
	if err != nil && ctx.Err() != nil {
		return &exitError{code: 130, err: fmt.Errorf("interrupted: %w", err)}
	}
	if err != nil {
		return err
	}
	return nil
}

// fsys is the part of a file system cp needs, local or over SFTP.
type fsys interface {
	Stat(name string) (fs.FileInfo, error)
	Open(name string) (io.ReadCloser, error)
	Create(name string, mode fs.FileMode) (io.WriteCloser, error)
	Mkdir(name string, mode fs.FileMode) error
	ReadDir(name string) ([]fs.FileInfo, error)
	Chtimes(name string, t time.Time) error
	Remove(name string) error
	Join(elem ...string) string
	Base(name string) string
	Where(name string) string // for messages
}

type localFS struct{}

func (localFS) Stat(n string) (fs.FileInfo, error)   { return os.Stat(n) }
func (localFS) Open(n string) (io.ReadCloser, error) { return os.Open(n) }
func (localFS) Create(n string, m fs.FileMode) (io.WriteCloser, error) {
	f, err := os.OpenFile(n, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, m)
	if err != nil {
		return nil, err
	}
	return f, os.Chmod(n, m) // an existing file keeps its mode otherwise
}
func (localFS) Mkdir(n string, m fs.FileMode) error { return os.Mkdir(n, m) }
func (localFS) ReadDir(n string) ([]fs.FileInfo, error) {
	es, err := os.ReadDir(n)
	if err != nil {
		return nil, err
	}
	out := make([]fs.FileInfo, 0, len(es))
	for _, e := range es {
		fi, err := e.Info()
		if err != nil {
			return nil, err
		}
		out = append(out, fi)
	}
	return out, nil
}
func (localFS) Chtimes(n string, t time.Time) error { return os.Chtimes(n, t, t) }
func (localFS) Remove(n string) error               { return os.Remove(n) }
func (localFS) Join(e ...string) string             { return filepath.Join(e...) }
func (localFS) Base(n string) string                { return filepath.Base(n) }
func (localFS) Where(n string) string               { return n }

type remoteFS struct{ c *sftp.Client }

func (r remoteFS) Stat(n string) (fs.FileInfo, error)   { return r.c.Stat(n) }
func (r remoteFS) Open(n string) (io.ReadCloser, error) { return r.c.Open(n) }
func (r remoteFS) Create(n string, m fs.FileMode) (io.WriteCloser, error) {
	f, err := r.c.OpenFile(n, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return nil, err
	}
	return f, f.Chmod(m)
}
func (r remoteFS) Mkdir(n string, m fs.FileMode) error {
	if err := r.c.Mkdir(n); err != nil {
		return err
	}
	return r.c.Chmod(n, m)
}
func (r remoteFS) ReadDir(n string) ([]fs.FileInfo, error) { return r.c.ReadDir(n) }
func (r remoteFS) Chtimes(n string, t time.Time) error     { return r.c.Chtimes(n, t, t) }
func (r remoteFS) Remove(n string) error                   { return r.c.Remove(n) }
func (remoteFS) Join(e ...string) string                   { return path.Join(e...) }
func (remoteFS) Base(n string) string                      { return path.Base(n) }
func (remoteFS) Where(n string) string                     { return "remote " + n }

// copier copies files and trees between two fsys.
type copier struct {
	sftp      *sftp.Client
	recursive bool
	preserve  bool
	progress  *progressLine
	upload    bool // the remote side is the destination

	// sessions > 1 splits files of parallelMin bytes or more over that many
	// sessions; openExtra opens one more (SSH client, SFTP client, closer).
	sessions  int
	openExtra func() (*sftp.Client, func(), error)
	extras    []*sftp.Client
	closers   []func()
	extraErr  error // why fewer extra sessions than asked for opened
}

// parallelMin is the smallest file split over several sessions.
const parallelMin = 8 << 20

// pool returns the SFTP clients for a split copy: the first session and as
// many extras as open (up to sessions-1), opened once. A failure to open
// one is not fatal: the copy uses what it has.
func (c *copier) pool() []*sftp.Client {
	for len(c.extras) < c.sessions-1 && c.extraErr == nil && c.openExtra != nil {
		sc, closer, err := c.openExtra()
		if err != nil {
			c.extraErr = err
			if c.progress != nil {
				c.progress.note(fmt.Sprintf("continuing with %d session(s): %v", 1+len(c.extras), err))
			}
			break
		}
		c.extras = append(c.extras, sc)
		c.closers = append(c.closers, closer)
	}
	return append([]*sftp.Client{c.sftp}, c.extras...)
}

func (c *copier) closeExtras() {
	for _, cl := range c.closers {
		cl()
	}
}

// copyAll resolves DST the scp way and copies each source.
func (c *copier) copyAll(from, to fsys, srcs []cpArg, dst string) error {
	dstInfo, err := to.Stat(dst)
	dstIsDir := err == nil && dstInfo.IsDir()
	if len(srcs) > 1 && !dstIsDir {
		return fmt.Errorf("%s is not a directory (several sources need one)", to.Where(dst))
	}
	for _, s := range srcs {
		fi, err := from.Stat(s.path)
		if err != nil {
			return fmt.Errorf("%s: %w", from.Where(s.path), pathErr(err))
		}
		target := dst
		if dstIsDir {
			target = to.Join(dst, from.Base(s.path))
		}
		if fi.IsDir() {
			if !c.recursive {
				return fmt.Errorf("%s is a directory (use -r)", from.Where(s.path))
			}
			err = c.copyTree(from, to, s.path, target, fi)
		} else {
			err = c.copyFile(from, to, s.path, target, fi)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *copier) copyTree(from, to fsys, src, dst string, fi fs.FileInfo) error {
	if err := to.Mkdir(dst, fi.Mode().Perm()|0o700); err != nil {
		if st, serr := to.Stat(dst); serr != nil || !st.IsDir() {
			return fmt.Errorf("create directory %s: %w", to.Where(dst), pathErr(err))
		}
	}
	entries, err := from.ReadDir(src)
	if err != nil {
		return fmt.Errorf("list %s: %w", from.Where(src), pathErr(err))
	}
	for _, e := range entries {
		s, d := from.Join(src, e.Name()), to.Join(dst, e.Name())
		switch {
		case e.IsDir():
			err = c.copyTree(from, to, s, d, e)
		case e.Mode().IsRegular():
			err = c.copyFile(from, to, s, d, e)
		default:
			if c.progress != nil {
				c.progress.note(fmt.Sprintf("skipped %s (not a regular file or directory)", from.Where(s)))
			}
		}
		if err != nil {
			return err
		}
	}
	if c.preserve {
		_ = to.Chtimes(dst, fi.ModTime())
	}
	return nil
}

// copyFile copies one regular file; on failure the partial destination is
// removed.
func (c *copier) copyFile(from, to fsys, src, dst string, fi fs.FileInfo) (err error) {
	if c.sessions > 1 && fi.Size() >= parallelMin {
		return c.copySplit(to, src, dst, fi)
	}
	in, err := from.Open(src)
	if err != nil {
		return fmt.Errorf("open %s: %w", from.Where(src), pathErr(err))
	}
	defer in.Close()
	out, err := to.Create(dst, fi.Mode().Perm())
	if err != nil {
		if out != nil {
			_ = out.Close()
		}
		return fmt.Errorf("create %s: %w", to.Where(dst), pathErr(err))
	}
	closed := false
	closeOut := func() error {
		if closed {
			return nil
		}
		closed = true
		return out.Close()
	}
	defer func() {
		if cerr := closeOut(); err == nil && cerr != nil {
			err = fmt.Errorf("write %s: %w", to.Where(dst), cerr)
		}
		if err != nil {
			_ = to.Remove(dst)
		}
	}()
	// sftp.File's WriteTo and ReadFrom keep many requests in flight; the
	// progress wrappers keep those paths (ReadFrom needs the size).
	switch {
	case c.progress == nil:
		_, err = io.Copy(out, in)
	case isSFTPFile(in):
		_, err = in.(io.WriterTo).WriteTo(c.progress.writer(out, from.Base(src), fi.Size()))
	default:
		_, err = io.Copy(out, c.progress.reader(in, from.Base(src), fi.Size()))
	}
	if err != nil {
		return fmt.Errorf("copy %s to %s: %w", from.Where(src), to.Where(dst), err)
	}
	if err := closeOut(); err != nil {
		return fmt.Errorf("write %s: %w", to.Where(dst), err)
	}
	if c.preserve {
		if err := to.Chtimes(dst, fi.ModTime()); err != nil {
			return fmt.Errorf("set times of %s: %w", to.Where(dst), err)
		}
	}
	return nil
}

// copySplit copies one large file over every session of the pool, each
// session moving one contiguous range with pipelined ReadAt/WriteAt. On
// failure the destination is removed.
func (c *copier) copySplit(to fsys, src, dst string, fi fs.FileInfo) (err error) {
	out, err := to.Create(dst, fi.Mode().Perm())
	if err != nil {
		if out != nil {
			_ = out.Close()
		}
		return fmt.Errorf("create %s: %w", to.Where(dst), pathErr(err))
	}
	if err := out.Close(); err != nil {
		_ = to.Remove(dst)
		return fmt.Errorf("create %s: %w", to.Where(dst), err)
	}
	defer func() {
		if err != nil {
			_ = to.Remove(dst)
		}
	}()
	clients := c.pool()
	size := fi.Size()
	const block = 1 << 20
	per := (size/int64(len(clients)) + block - 1) / block * block
	var m *meter
	if c.progress != nil {
		m = &meter{p: c.progress, name: path.Base(src), size: size, start: time.Now()}
	}
	errs := make(chan error, len(clients))
	stop := make(chan struct{})
	var stopOnce sync.Once
	for i, sc := range clients {
		off, end := int64(i)*per, min(int64(i+1)*per, size)
		go func() {
			err := c.copyRange(sc, src, dst, off, end, m, stop)
			if err != nil {
				stopOnce.Do(func() { close(stop) })
			}
			errs <- err
		}()
	}
	for range clients {
		if e := <-errs; e != nil && err == nil {
			err = fmt.Errorf("copy %s: %w", src, e)
		}
	}
	if err == nil && c.preserve {
		if err = to.Chtimes(dst, fi.ModTime()); err != nil {
			return fmt.Errorf("set times of %s: %w", to.Where(dst), err)
		}
	}
	return err
}

// copyRange moves bytes [off, end) of src to dst through sc.
func (c *copier) copyRange(sc *sftp.Client, src, dst string, off, end int64, m *meter, stop <-chan struct{}) error {
	var r io.ReaderAt
	var w io.WriterAt
	if c.upload {
		lf, err := os.Open(src)
		if err != nil {
			return err
		}
		defer lf.Close()
		rf, err := sc.OpenFile(dst, os.O_WRONLY)
		if err != nil {
			return err
		}
		defer rf.Close()
		r, w = lf, rf
	} else {
		rf, err := sc.Open(src)
		if err != nil {
			return err
		}
		defer rf.Close()
		lf, err := os.OpenFile(dst, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		defer lf.Close()
		r, w = rf, lf
	}
	buf := make([]byte, 1<<20)
	for off < end {
		select {
		case <-stop:
			return errors.New("stopped: another session failed")
		default:
		}
		n := int(min(int64(len(buf)), end-off))
		got, err := r.ReadAt(buf[:n], off)
		if got < n {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF // the file shrank under us
			}
			return fmt.Errorf("read at %d: %w", off, err)
		}
		if _, err := w.WriteAt(buf[:n], off); err != nil {
			return fmt.Errorf("write at %d: %w", off, err)
		}
		off += int64(n)
		if m != nil {
			m.addShared(n, off >= end)
		}
	}
	return nil
}

func isSFTPFile(r io.Reader) bool {
	_, ok := r.(*sftp.File)
	return ok
}

// pathErr drops the *fs.PathError / *sftp.StatusError wrapping the caller
// already names; missing files and permission errors read the same on
// both sides.
func pathErr(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fs.ErrNotExist
	case errors.Is(err, fs.ErrPermission):
		return fs.ErrPermission
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// progressLine is a one-line transfer display on a terminal.
type progressLine struct {
	w     io.Writer
	last  time.Time
	shown bool
}

// meter counts one file's bytes and redraws the line at most 10 times a
// second.
type meter struct {
	mu    sync.Mutex // only addShared takes it
	p     *progressLine
	name  string
	size  int64
	n     int64
	start time.Time
}

// addShared is add for a meter several sessions update at once.
func (m *meter) addShared(n int, final bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.add(n, final)
}

func (m *meter) add(n int, final bool) {
	m.n += int64(n)
	now := time.Now()
	if !final && now.Sub(m.p.last) < 100*time.Millisecond {
		return
	}
	m.p.last = now
	rate := float64(m.n) / max(now.Sub(m.start).Seconds(), 0.001)
	pct := 100.0
	if m.size > 0 {
		pct = float64(m.n) * 100 / float64(m.size)
	}
	fmt.Fprintf(m.p.w, "\r\033[K%s  %3.0f%%  %s  %s/s", m.name, pct, humanBytes(float64(m.n)), humanBytes(rate))
	m.p.shown = true
}

// meterReader counts what is read; Size lets sftp.File.ReadFrom write
// concurrently.
type meterReader struct {
	r io.Reader
	m *meter
}

func (r *meterReader) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	r.m.add(n, err != nil)
	return n, err
}

func (r *meterReader) Size() int64 { return r.m.size }

type meterWriter struct {
	w io.Writer
	m *meter
}

func (w *meterWriter) Write(b []byte) (int, error) {
	n, err := w.w.Write(b)
	w.m.add(n, w.m.n+int64(n) >= w.m.size)
	return n, err
}

func (p *progressLine) reader(r io.Reader, name string, size int64) io.Reader {
	return &meterReader{r: r, m: &meter{p: p, name: name, size: size, start: time.Now()}}
}

func (p *progressLine) writer(w io.Writer, name string, size int64) io.Writer {
	return &meterWriter{w: w, m: &meter{p: p, name: name, size: size, start: time.Now()}}
}

func (p *progressLine) note(s string) {
	fmt.Fprintf(p.w, "\r\033[K%s\n", s)
}

func (p *progressLine) done() {
	if p.shown {
		fmt.Fprint(p.w, "\n")
	}
}

func humanBytes(v float64) string {
	units := []string{"B", "KB", "MB", "GB", "TB"}
	i := 0
	for v >= 1000 && i < len(units)-1 {
		v /= 1000
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f %s", v, units[i])
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}
