package doctor_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/ssmtui/ssmtui/doctor"
	"github.com/ssmtui/ssmtui/internal/sdkhttp"
	"github.com/ssmtui/ssmtui/sandbox"
)

// testFleet has one instance per finding doctor can make, in eu-west-1,
// plus a twin name in us-east-1 for Find's ambiguity.
const testFleet = `{"accounts": [{
  "id": "210987654321", "profile": "doc", "accessKeyId": "AKIADOCTORTEST000001", "secretAccessKey": "s",
  "regions": ["eu-west-1", "us-east-1"],
  "network": {
    "vpcs": [
      {"id": "vpc-0a01", "region": "eu-west-1", "cidr": "10.1.0.0/16"},
      {"id": "vpc-0b01", "region": "eu-west-1", "cidr": "10.2.0.0/16"},
      {"id": "vpc-0c01", "region": "eu-west-1", "cidr": "10.3.0.0/16"},
      {"id": "vpc-0d01", "region": "eu-west-1", "cidr": "10.4.0.0/16"}
    ],
    "routeTables": [
      {"id": "rtb-0a01", "vpcId": "vpc-0a01", "routes": [{"destination": "10.1.0.0/16", "target": "local"}, {"destination": "0.0.0.0/0", "target": "igw-0a01"}]},
      {"id": "rtb-0d01", "vpcId": "vpc-0d01", "routes": [{"destination": "10.4.0.0/16", "target": "local"}, {"destination": "0.0.0.0/0", "target": "nat-0d01"}]},
      {"id": "rtb-0b01", "vpcId": "vpc-0b01", "routes": [{"destination": "10.2.0.0/16", "target": "local"}]},
      {"id": "rtb-0c01", "vpcId": "vpc-0c01", "routes": [{"destination": "10.3.0.0/16", "target": "local"}]}
    ],
    "subnets": [
      {"id": "subnet-0a01", "vpcId": "vpc-0a01", "cidr": "10.1.1.0/24", "routeTableId": "rtb-0a01"},
      {"id": "subnet-0d01", "vpcId": "vpc-0d01", "cidr": "10.4.1.0/24", "routeTableId": "rtb-0d01"},
      {"id": "subnet-0b01", "vpcId": "vpc-0b01", "cidr": "10.2.1.0/24", "routeTableId": "rtb-0b01"},
      {"id": "subnet-0c01", "vpcId": "vpc-0c01", "cidr": "10.3.1.0/24", "routeTableId": "rtb-0c01"}
    ],
    "securityGroups": [
      {"id": "sg-0a01", "vpcId": "vpc-0a01", "name": "open", "egress": [{"protocol": "-1", "cidrs": ["0.0.0.0/0"]}]},
      {"id": "sg-0d01", "vpcId": "vpc-0d01", "name": "open", "egress": [{"protocol": "-1", "cidrs": ["0.0.0.0/0"]}]},
      {"id": "sg-0a03", "vpcId": "vpc-0a01", "name": "locked", "egress": [{"protocol": "tcp", "fromPort": 5432, "toPort": 5432, "cidrs": ["10.1.0.0/16"]}]},
      {"id": "sg-0b02", "vpcId": "vpc-0b01", "name": "app", "egress": [{"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrs": ["10.2.0.0/16"]}]},
      {"id": "sg-0b09", "vpcId": "vpc-0b01", "name": "endpoints", "ingress": [{"protocol": "tcp", "fromPort": 443, "toPort": 443, "groups": ["sg-0b02"]}]}
    ],
    "endpoints": [
      {"id": "vpce-0d21", "vpcId": "vpc-0d01", "service": "ssm", "subnets": ["subnet-0d01"]},
      {"id": "vpce-0b11", "vpcId": "vpc-0b01", "service": "ssm", "subnets": ["subnet-0b01"], "securityGroups": ["sg-0b09"]},
      {"id": "vpce-0b12", "vpcId": "vpc-0b01", "service": "ssmmessages", "privateDns": false, "subnets": ["subnet-0b01"], "securityGroups": ["sg-0b09"]},
      {"id": "vpce-0b13", "vpcId": "vpc-0b01", "service": "ec2messages", "subnets": ["subnet-0b01"], "securityGroups": ["sg-0b09"]}
    ],
    "instanceProfiles": [{"name": "old-profile", "role": "old-role"}],
    "roles": [{"name": "old-role", "policies": ["AmazonEC2RoleforSSM"]}]
  },
  "instances": [
    {"id": "i-0000000000000d001", "region": "eu-west-1", "name": "healthy-public", "vpcId": "vpc-0a01", "subnetId": "subnet-0a01", "privateIp": "10.1.1.5", "publicIp": "198.51.100.1", "securityGroups": ["sg-0a01"], "instanceProfile": "web"},
    {"id": "i-0000000000000d002", "region": "eu-west-1", "name": "partial-endpoints", "vpcId": "vpc-0d01", "subnetId": "subnet-0d01", "privateIp": "10.4.1.5", "securityGroups": ["sg-0d01"], "instanceProfile": "web", "notManaged": true},
    {"id": "i-0000000000000d003", "region": "eu-west-1", "name": "no-egress", "vpcId": "vpc-0a01", "subnetId": "subnet-0a01", "privateIp": "10.1.1.6", "publicIp": "198.51.100.3", "securityGroups": ["sg-0a03"], "instanceProfile": "web", "notManaged": true},
    {"id": "i-0000000000000d004", "region": "eu-west-1", "name": "endpoint-dns-off", "vpcId": "vpc-0b01", "subnetId": "subnet-0b01", "privateIp": "10.2.1.5", "securityGroups": ["sg-0b02"], "instanceProfile": "web", "notManaged": true},
    {"id": "i-0000000000000d005", "region": "eu-west-1", "name": "old-policy", "vpcId": "vpc-0a01", "subnetId": "subnet-0a01", "privateIp": "10.1.1.7", "publicIp": "198.51.100.5", "securityGroups": ["sg-0a01"], "instanceProfile": "old-profile"},
    {"id": "i-0000000000000d006", "region": "eu-west-1", "name": "stopped-one", "state": "stopped", "vpcId": "vpc-0a01", "subnetId": "subnet-0a01", "privateIp": "10.1.1.8", "securityGroups": ["sg-0a01"], "instanceProfile": "web"},
    {"id": "i-0000000000000d007", "region": "eu-west-1", "name": "lost-agent", "pingStatus": "ConnectionLost", "vpcId": "vpc-0c01", "subnetId": "subnet-0c01", "privateIp": "10.3.1.5", "instanceProfile": "web"},
    {"id": "i-0000000000000d008", "region": "eu-west-1", "name": "online-private", "vpcId": "vpc-0c01", "subnetId": "subnet-0c01", "privateIp": "10.3.1.6", "instanceProfile": "web"},
    {"id": "i-0000000000000d009", "region": "eu-west-1", "name": "twin", "vpcId": "vpc-0a01", "subnetId": "subnet-0a01", "privateIp": "10.1.1.9", "publicIp": "198.51.100.9", "instanceProfile": "web"},
    {"id": "i-0000000000000d010", "region": "us-east-1", "name": "twin", "vpcId": "vpc-0e01", "subnetId": "subnet-0e01", "privateIp": "10.9.1.9", "publicIp": "198.51.100.10", "instanceProfile": "web"}
  ]
}]}`

type env struct {
	acct    *sandbox.Account
	clients func(region string) doctor.Clients
	ec2For  func(region string) doctor.EC2API
}

func start(t *testing.T) *env {
	t.Helper()
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CA_BUNDLE", "")
	f, err := sandbox.ParseFleet([]byte(testFleet))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sb, err := sandbox.Start(ctx, sandbox.Options{Fleet: f, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if host, _, _ := net.SplitHostPort(addr); !net.ParseIP(host).IsLoopback() {
			return nil, fmt.Errorf("test leak guard: refusing to dial %s", addr)
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}}
	t.Cleanup(hc.CloseIdleConnections)
	a := &f.Accounts[0]
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithRegion("eu-west-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(a.AccessKeyID, a.SecretAccessKey, "")),
		config.WithBaseEndpoint(sb.URL()),
		config.WithEC2IMDSClientEnableState(imds.ClientDisabled),
		config.WithSharedConfigFiles([]string{}),
		config.WithSharedCredentialsFiles([]string{}),
		config.WithHTTPClient(sdkhttp.Client(hc)),
	)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{acct: a}
	e.ec2For = func(r string) doctor.EC2API { return ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.Region = r }) }
	e.clients = func(r string) doctor.Clients {
		return doctor.Clients{
			EC2: e.ec2For(r), SSM: ssm.NewFromConfig(cfg, func(o *ssm.Options) { o.Region = r }), IAM: iam.NewFromConfig(cfg),
			Region: r, Now: func() time.Time { return now },
		}
	}
	return e
}

var now = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// statuses maps check names to statuses.
func statuses(r *doctor.Report) map[string]doctor.Status {
	m := map[string]doctor.Status{}
	for _, c := range r.Checks {
		m[c.Name] = c.Status
	}
	return m
}

func find(r *doctor.Report, name string) doctor.Check {
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	return doctor.Check{Name: name, Status: -1}
}

func TestDiagnose(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	for _, tc := range []struct {
		id     string
		failed bool
		want   map[string]doctor.Status
		detail map[string]string // check → substring of Detail or Fix
	}{
		{"i-0000000000000d001", false, map[string]doctor.Status{"EC2 instance": doctor.OK, "Systems Manager": doctor.OK, "instance profile": doctor.OK,
			"role policy": doctor.OK, "route to Systems Manager": doctor.OK, "instance security groups": doctor.OK},
			map[string]string{"route to Systems Manager": "internet gateway igw-0a01", "Systems Manager": "last ping 30s ago"}},
		{"i-0000000000000d002", true, map[string]doctor.Status{"Systems Manager": doctor.Fail, "route to Systems Manager": doctor.Warn},
			map[string]string{"route to Systems Manager": "missing ssmmessages, ec2messages"}},
		{"i-0000000000000d003", true, map[string]doctor.Status{"route to Systems Manager": doctor.OK, "instance security groups": doctor.Fail},
			map[string]string{"instance security groups": "authorize-security-group-egress --group-id sg-0a03"}},
		{"i-0000000000000d004", true, map[string]doctor.Status{"route to Systems Manager": doctor.OK, "VPC DNS": doctor.Fail,
			"endpoint security groups": doctor.OK, "instance security groups": doctor.OK},
			map[string]string{"VPC DNS": "vpce-0b12 (ssmmessages)"}},
		{"i-0000000000000d005", false, map[string]doctor.Status{"role policy": doctor.Warn},
			map[string]string{"role policy": "deprecated AmazonEC2RoleforSSM"}},
		{"i-0000000000000d006", true, map[string]doctor.Status{"EC2 instance": doctor.Fail},
			map[string]string{"EC2 instance": "aws ec2 start-instances --instance-ids i-0000000000000d006"}},
		{"i-0000000000000d007", true, map[string]doctor.Status{"Systems Manager": doctor.Fail, "route to Systems Manager": doctor.Fail},
			map[string]string{"Systems Manager": "ConnectionLost", "route to Systems Manager": "rtb-0c01 has no 0.0.0.0/0"}},
		// Online proves a path exists: network findings are reported, not failed.
		{"i-0000000000000d008", false, map[string]doctor.Status{"Systems Manager": doctor.OK, "route to Systems Manager": doctor.Warn},
			map[string]string{"route to Systems Manager": "yet the agent is online"}},
	} {
		t.Run(tc.id, func(t *testing.T) {
			rep, err := doctor.Diagnose(ctx, e.clients("eu-west-1"), tc.id)
			if err != nil {
				t.Fatal(err)
			}
			got := statuses(rep)
			for name, want := range tc.want {
				if got[name] != want {
					t.Errorf("%s = %v, want %v (%+v)", name, got[name], want, find(rep, name))
				}
			}
			for name, sub := range tc.detail {
				c := find(rep, name)
				if !strings.Contains(c.Detail+" "+c.Fix, sub) {
					t.Errorf("%s: %q / %q lacks %q", name, c.Detail, c.Fix, sub)
				}
			}
			if rep.Failed() != tc.failed {
				t.Errorf("Failed() = %v, want %v: %+v", rep.Failed(), tc.failed, rep.Checks)
			}
		})
	}
	if _, err := doctor.Diagnose(ctx, e.clients("eu-west-1"), "i-0000000000000dfff"); err == nil {
		t.Error("an unknown instance was diagnosed")
	}
}

func TestFind(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	regions := []string{"eu-west-1", "us-east-1"}
	for target, want := range map[string][]string{
		"i-0000000000000d003":                    {"i-0000000000000d003"},
		"no-egress":                              {"i-0000000000000d003"},
		"10.1.1.6":                               {"i-0000000000000d003"},
		"ip-10-1-1-6.eu-west-1.compute.internal": {"i-0000000000000d003"},
		"twin":                                   {"i-0000000000000d009", "i-0000000000000d010"},
		"nobody":                                 nil,
	} {
		got, err := doctor.Find(ctx, regions, e.ec2For, target)
		if err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		var ids []string
		for _, c := range got {
			ids = append(ids, c.InstanceID)
		}
		if strings.Join(ids, ",") != strings.Join(want, ",") {
			t.Errorf("%s: %v, want %v", target, ids, want)
		}
	}
	if _, err := doctor.Find(ctx, []string{"ap-south-1"}, e.ec2For, "twin"); err == nil || !strings.Contains(err.Error(), "ap-south-1") {
		t.Errorf("a region that is not enabled: %v, want an error naming it", err)
	}
}
