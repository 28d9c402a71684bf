package inventory

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Profile is one named AWS profile from the shared config files.
type Profile struct {
	Name   string
	Region string // the profile's region setting, "" if none
	SSO    bool   // uses IAM Identity Center (sso_session or sso_start_url)
}

// ProfileFiles names the shared config and credentials files.
type ProfileFiles struct {
	Config      string
	Credentials string
}

// DefaultProfileFiles returns the files the AWS CLI and SDK read:
// AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/config and
// ~/.aws/credentials. getenv is os.Getenv outside tests.
func DefaultProfileFiles(getenv func(string) string) ProfileFiles {
	home := getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	f := ProfileFiles{Config: getenv("AWS_CONFIG_FILE"), Credentials: getenv("AWS_SHARED_CREDENTIALS_FILE")}
	if f.Config == "" {
		f.Config = filepath.Join(home, ".aws", "config")
	}
	if f.Credentials == "" {
		f.Credentials = filepath.Join(home, ".aws", "credentials")
	}
	return f
}

// LoadProfiles lists the profiles of the shared files the way
// `aws configure list-profiles` does: [default] and [profile NAME] in the
// config file, every [NAME] in the credentials file, de-duplicated in file
// order. A missing file counts as empty.
func LoadProfiles(files ProfileFiles) ([]Profile, error) {
	var out []Profile
	index := map[string]int{}
	add := func(name string, kv map[string]string) {
		i, ok := index[name]
		if !ok {
			i = len(out)
			index[name] = i
			out = append(out, Profile{Name: name})
		}
		if r := kv["region"]; r != "" && out[i].Region == "" {
			out[i].Region = r
		}
		if kv["sso_session"] != "" || kv["sso_start_url"] != "" {
			out[i].SSO = true
		}
	}
	err := scanINI(files.Config, func(section string, kv map[string]string) {
		switch {
		case section == "default":
			add("default", kv)
		case strings.HasPrefix(section, "profile "):
			add(strings.TrimSpace(strings.TrimPrefix(section, "profile ")), kv)
		}
	})
	if err != nil {
		return nil, err
	}
	err = scanINI(files.Credentials, func(section string, kv map[string]string) { add(section, kv) })
	if err != nil {
		return nil, err
	}
	return out, nil
}

// scanINI calls fn for each [section] of an AWS shared file with its
// top-level key = value pairs (nested "  key = value" lines under a
// sub-section key such as s3 = are skipped).
func scanINI(path string, fn func(section string, kv map[string]string)) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read aws shared file: %w", err)
	}
	defer f.Close()
	var section string
	var kv map[string]string
	flush := func() {
		if section != "" {
			fn(section, kv)
		}
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		raw := sc.Text()
		line := strings.TrimSpace(raw)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' && strings.HasSuffix(line, "]") {
			flush()
			section, kv = strings.TrimSpace(line[1:len(line)-1]), map[string]string{}
			continue
		}
		if section == "" || raw[0] == ' ' || raw[0] == '\t' {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			kv[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}
