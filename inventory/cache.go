package inventory

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// Cache file format, version 1 (all integers little-endian or uvarint):
//
//	magic   "ssmtuiIC" (8 bytes)
//	version uint16
//	length  uint32 of payload
//	payload
//	crc32   uint32 (IEEE) of payload
//
// payload: profile string, region count, then per region a block (uvarint
// byte length first, so blocks decode in parallel): region string, fetched
// (varint Unix nanoseconds), instance count, instances. Strings are
// uvarint length + bytes. An instance is cacheStrings strings in order, the
// IsLatestVersion byte, LastPing and LaunchTime (varint Unix nanoseconds, 0 =
// zero time), a tag count and key/value strings. Bump cacheVersion whenever
// this layout or Instance's cached fields change.
const (
	cacheMagic   = "ssmtuiIC"
	cacheVersion = 1
)

// ErrCacheFormat reports a cache file that is corrupt or from another
// version; callers ignore the cache then.
var ErrCacheFormat = errors.New("inventory: cache file corrupt or of another version")

// DefaultCacheDir is the inventory cache directory under the user cache dir
// (e.g. ~/.cache/ssmtui/inventory), or "" if there is none.
func DefaultCacheDir() string {
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "ssmtui", "inventory")
}

// cacheFile is the file of one profile: a readable, filesystem-safe name plus
// a short hash so distinct profile names never collide.
func cacheFile(dir, profile string) string {
	safe := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, profile)
	h := sha1.Sum([]byte(profile))
	return filepath.Join(dir, safe+"-"+hex.EncodeToString(h[:4])+".inv")
}

// SaveCache writes the results of one profile (successful regions only)
// atomically: a temporary file in dir renamed over the old one.
func SaveCache(dir, profile string, results []Result) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create cache dir: %w", err)
	}
	var e cacheEncoder
	e.str(profile)
	n := 0
	for _, r := range results {
		if r.Err == nil && r.Region != "" {
			n++
		}
	}
	e.uvarint(uint64(n))
	for _, r := range results {
		if r.Err != nil || r.Region == "" {
			continue
		}
		var block cacheEncoder
		block.str(r.Region)
		block.time(r.Fetched)
		block.uvarint(uint64(len(r.Instances)))
		for i := range r.Instances {
			block.instance(&r.Instances[i])
		}
		e.uvarint(uint64(len(block.b)))
		e.b = append(e.b, block.b...)
	}
	var file bytes.Buffer
	file.Grow(len(e.b) + 18)
	file.WriteString(cacheMagic)
	file.Write(binary.LittleEndian.AppendUint16(nil, cacheVersion))
	file.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(e.b))))
	file.Write(e.b)
	file.Write(binary.LittleEndian.AppendUint32(nil, crc32.ChecksumIEEE(e.b)))

	path := cacheFile(dir, profile)
	tmp, err := os.CreateTemp(dir, ".inv-*")
	if err != nil {
		return fmt.Errorf("write cache for %s: %w", profile, err)
	}
	_, err = tmp.Write(file.Bytes())
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("write cache for %s: %w", profile, err)
	}
	return nil
}

// LoadCache reads the cached results of one profile, each marked FromCache
// with its Fetched time. A missing file returns an error wrapping
// os.ErrNotExist; a corrupt or other-version file one wrapping
// ErrCacheFormat.
func LoadCache(dir, profile string) ([]Result, error) {
	b, err := os.ReadFile(cacheFile(dir, profile))
	if err != nil {
		return nil, fmt.Errorf("read cache for %s: %w", profile, err)
	}
	rs, err := decodeCache(b)
	if err != nil {
		return nil, fmt.Errorf("read cache for %s: %w", profile, err)
	}
	return rs, nil
}

func decodeCache(b []byte) (rs []Result, err error) {
	if len(b) < 18 || string(b[:8]) != cacheMagic {
		return nil, fmt.Errorf("%w: bad header", ErrCacheFormat)
	}
	if v := binary.LittleEndian.Uint16(b[8:]); v != cacheVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrCacheFormat, v, cacheVersion)
	}
	n := int(binary.LittleEndian.Uint32(b[10:]))
	if n != len(b)-18 {
		return nil, fmt.Errorf("%w: truncated", ErrCacheFormat)
	}
	payload := b[14 : 14+n]
	if crc32.ChecksumIEEE(payload) != binary.LittleEndian.Uint32(b[14+n:]) {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrCacheFormat)
	}
	// One string aliases the whole payload (b is ours and never written
	// again); every decoded string is a slice of it, so decoding allocates
	// little beyond the Instances themselves.
	d := cacheDecoder{s: unsafe.String(unsafe.SliceData(payload), len(payload))}
	defer func() {
		if recover() != nil {
			rs, err = nil, fmt.Errorf("%w: malformed payload", ErrCacheFormat)
		}
	}()
	profile := d.str()
	nr := d.count()
	blocks := make([]string, nr)
	for i := range blocks {
		n := d.count()
		blocks[i] = d.s[d.off : d.off+n]
		d.off += n
	}
	if d.off != len(d.s) {
		return nil, fmt.Errorf("%w: trailing bytes", ErrCacheFormat)
	}
	// Regions are independent blocks: decode them on all cores.
	rs = make([]Result, nr)
	errs := make([]error, nr)
	next := make(chan int, nr)
	for i := range nr {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	for range min(nr, runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			for i := range next {
				rs[i], errs[i] = decodeRegion(profile, blocks[i])
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return rs, nil
}

// decodeRegion decodes one region block.
func decodeRegion(profile, block string) (r Result, err error) {
	defer func() {
		if recover() != nil {
			r, err = Result{}, fmt.Errorf("%w: malformed region block", ErrCacheFormat)
		}
	}()
	d := cacheDecoder{s: block}
	r = Result{Profile: profile, Region: d.str(), Fetched: d.time(), FromCache: true}
	r.Instances = make([]Instance, d.count())
	for i := range r.Instances {
		d.instance(&r.Instances[i])
	}
	if d.off != len(d.s) {
		return Result{}, fmt.Errorf("%w: trailing bytes in region %s", ErrCacheFormat, r.Region)
	}
	return r, nil
}

// cacheStrings lists the string fields of Instance in file order.
func cacheStrings(in *Instance) []*string {
	return []*string{&in.ID, &in.Name, &in.Profile, &in.Account, &in.Region, &in.PingStatus, &in.AgentVersion,
		&in.PlatformType, &in.PlatformName, &in.PlatformVersion, &in.ResourceType, &in.ComputerName, &in.State,
		&in.InstanceType, &in.PrivateIP, &in.PublicIP, &in.PrivateDNS, &in.PublicDNS, &in.VPCID, &in.SubnetID,
		&in.AvailabilityZone, &in.PlatformDetails, &in.IAMInstanceProfile}
}

type cacheEncoder struct{ b []byte }

func (e *cacheEncoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *cacheEncoder) str(s string)     { e.uvarint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *cacheEncoder) time(t time.Time) {
	var ns int64
	if !t.IsZero() {
		ns = t.UnixNano()
	}
	e.b = binary.AppendVarint(e.b, ns)
}

func (e *cacheEncoder) instance(in *Instance) {
	for _, p := range cacheStrings(in) {
		e.str(*p)
	}
	if in.IsLatestVersion {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
	e.time(in.LastPing)
	e.time(in.LaunchTime)
	keys := make([]string, 0, len(in.Tags))
	for k := range in.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	e.uvarint(uint64(len(keys)))
	for _, k := range keys {
		e.str(k)
		e.str(in.Tags[k])
	}
}

// cacheDecoder reads the payload; it panics on malformed input, which
// decodeCache turns into ErrCacheFormat.
type cacheDecoder struct {
	s   string
	off int
}

func (d *cacheDecoder) uvarint() uint64 {
	var v uint64
	for shift := 0; ; shift += 7 {
		c := d.s[d.off]
		d.off++
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v
		}
		if shift > 63 {
			panic("varint overflow")
		}
	}
}

// count reads a length that must fit in the remaining input.
func (d *cacheDecoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.s)-d.off) {
		panic("count out of range")
	}
	return int(n)
}

func (d *cacheDecoder) str() string {
	n := d.count()
	s := d.s[d.off : d.off+n]
	d.off += n
	return s
}

func (d *cacheDecoder) time() time.Time {
	u := d.uvarint()
	ns := int64(u>>1) ^ -int64(u&1) // zig-zag, as binary.AppendVarint
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

func (d *cacheDecoder) instance(in *Instance) {
	for _, p := range cacheStrings(in) {
		*p = d.str()
	}
	in.IsLatestVersion = d.s[d.off] == 1
	d.off++
	in.LastPing = d.time()
	in.LaunchTime = d.time()
	if n := d.count(); n > 0 {
		in.Tags = make(map[string]string, n)
		for range n {
			k := d.str()
			in.Tags[k] = d.str()
		}
	}
}
