package inventory_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/ssmtui/ssmtui/inventory"
)

func TestResolve(t *testing.T) {
	fleet := []inventory.Instance{
		{ID: "i-0aaa00000000000a1", Name: "web-prod-1", Region: "us-east-1", Profile: "prod", PrivateIP: "10.0.1.1", PrivateDNS: "ip-10-0-1-1.ec2.internal"},
		{ID: "i-0aaa00000000000a2", Name: "web-prod-1", Region: "eu-west-1", Profile: "prod", PrivateIP: "10.1.1.1", PrivateDNS: "ip-10-1-1-1.eu-west-1.compute.internal"},
		{ID: "i-0aaa00000000000a3", Name: "Web-Prod-2", Region: "us-east-1", Profile: "prod", PrivateIP: "10.0.1.2", PrivateDNS: "ip-10-0-1-2.ec2.internal"},
		{ID: "i-0aaa00000000000a4", Name: "db-primary", Region: "us-east-1", Profile: "prod", PrivateIP: "10.0.3.1"},
		{ID: "i-0aaa00000000000a4", Name: "db-primary", Region: "us-east-1", Profile: "prod-admin", PrivateIP: "10.0.3.1"}, // same node, second profile
		{ID: "mi-0bbb00000000000b1", Name: "rack12-db", Region: "us-east-1", Profile: "prod", PrivateIP: "192.168.12.20"},
		{ID: "i-0aaa00000000000a5", Name: "db-primary-old", Region: "us-east-1", Profile: "prod", PrivateIP: "10.0.3.2"},
	}
	for name, tc := range map[string]struct {
		target    string
		want      string // ID
		ambiguous int    // candidates
		rule      string
		notFound  bool
		closest   []string
	}{
		"instance id":              {target: "i-0aaa00000000000a3", want: "i-0aaa00000000000a3"},
		"mi id upper-case":         {target: "MI-0BBB00000000000B1", want: "mi-0bbb00000000000b1"},
		"exact name beats prefix":  {target: "db-primary", want: "i-0aaa00000000000a4"},
		"case-insensitive name":    {target: "web-prod-2", want: "i-0aaa00000000000a3"},
		"same name two regions":    {target: "web-prod-1", ambiguous: 2, rule: "name"},
		"private ip":               {target: "10.1.1.1", want: "i-0aaa00000000000a2"},
		"private dns":              {target: "ip-10-0-1-2.ec2.internal", want: "i-0aaa00000000000a3"},
		"private dns first label":  {target: "IP-10-0-1-1", want: "i-0aaa00000000000a1"},
		"unique prefix":            {target: "rack", want: "mi-0bbb00000000000b1"},
		"ambiguous prefix":         {target: "web", ambiguous: 3, rule: "name prefix"},
		"miss with suggestion":     {target: "db-primry", notFound: true, closest: []string{"i-0aaa00000000000a4"}},
		"miss without suggestions": {target: "zzzzzzzzzzzz", notFound: true, closest: []string{}},
		"empty":                    {target: "  ", notFound: true, closest: []string{}},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := inventory.Resolve(fleet, tc.target)
			var amb *inventory.AmbiguousError
			var nf *inventory.NotFoundError
			switch {
			case tc.ambiguous > 0:
				if !errors.As(err, &amb) || len(amb.Candidates) != tc.ambiguous || amb.Rule != tc.rule {
					t.Fatalf("err = %v, want %d candidates by %s", err, tc.ambiguous, tc.rule)
				}
			case tc.notFound:
				if !errors.As(err, &nf) {
					t.Fatalf("err = %v, want NotFoundError", err)
				}
				var ids []string
				for _, c := range nf.Closest {
					ids = append(ids, c.ID)
				}
				if ids == nil {
					ids = []string{}
				}
				if !reflect.DeepEqual(ids, tc.closest) {
					t.Fatalf("closest = %v, want %v", ids, tc.closest)
				}
			default:
				if err != nil || got.ID != tc.want {
					t.Fatalf("Resolve(%q) = %s, %v; want %s", tc.target, got.ID, err, tc.want)
				}
			}
		})
	}
}

func TestLoadProfiles(t *testing.T) {
	dir := t.TempDir()
	files := inventory.ProfileFiles{Config: filepath.Join(dir, "config"), Credentials: filepath.Join(dir, "credentials")}
	if ps, err := inventory.LoadProfiles(files); err != nil || len(ps) != 0 {
		t.Fatalf("missing files: %v %v", ps, err)
	}
	must(t, os.WriteFile(files.Config, []byte(`# comment
[default]
region = us-east-1

[profile prod]
region=eu-west-1
s3 =
  region = ignored-nested
role_arn = arn:aws:iam::111122223333:role/Admin
source_profile = default

[profile sso-dev]
sso_session = corp
sso_account_id = 444455556666

[sso-session corp]
sso_start_url = https://corp.awsapps.com/start

[services local]
ssm =
  endpoint_url = http://127.0.0.1:1

[profile legacy-sso]
sso_start_url = https://old.awsapps.com/start
`), 0o600))
	must(t, os.WriteFile(files.Credentials, []byte(`[default]
aws_access_key_id = AKIAEXAMPLE
aws_secret_access_key = x
[ci]
aws_access_key_id = AKIACI
`), 0o600))
	got, err := inventory.LoadProfiles(files)
	must(t, err)
	want := []inventory.Profile{
		{Name: "default", Region: "us-east-1"},
		{Name: "prod", Region: "eu-west-1"},
		{Name: "sso-dev", SSO: true},
		{Name: "legacy-sso", SSO: true},
		{Name: "ci"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("profiles:\n got %+v\nwant %+v", got, want)
	}

	env := map[string]string{"HOME": "/home/u"}
	if f := inventory.DefaultProfileFiles(func(k string) string { return env[k] }); f.Config != "/home/u/.aws/config" || f.Credentials != "/home/u/.aws/credentials" {
		t.Fatalf("default files = %+v", f)
	}
	env["AWS_CONFIG_FILE"], env["AWS_SHARED_CREDENTIALS_FILE"] = "/c", "/k"
	if f := inventory.DefaultProfileFiles(func(k string) string { return env[k] }); f.Config != "/c" || f.Credentials != "/k" {
		t.Fatalf("env files = %+v", f)
	}
}
