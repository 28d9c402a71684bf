package sandbox

import (
	"encoding/xml"
	"testing"
)

// TestDescribeInstancesXMLMatchesEncodingXML checks that the hand-written
// DescribeInstances writer produces exactly what encoding/xml produces for
// the same value, including omitted fields, escaping and non-ASCII text.
func TestDescribeInstancesXMLMatchesEncodingXML(t *testing.T) {
	full := ec2InstanceXML{
		InstanceID: "i-0123456789abcdef0", ImageID: "ami-89abcdef0", PrivateDNSName: "ip-10-0-0-1.ec2.internal",
		DNSName: "ec2-1-2-3-4.compute-1.amazonaws.com", InstanceType: "t3.micro", LaunchTime: "2026-11-01T10:00:00.000Z",
		AvailabilityZone: "us-east-1a", Platform: "windows", PlatformDetails: "Windows", SubnetID: "subnet-1",
		VPCID: "vpc-1", PrivateIP: "10.0.0.1", PublicIP: "1.2.3.4", Architecture: "x86_64",
		Tags: []ec2Tag{{Key: "Name", Value: `web <&> "quoted" 'single'`}, {Key: "tab\tnl\ncr\r", Value: "ünïcødé ✓"}, {Key: "bad", Value: "\xff\x01"}},
	}
	full.InstanceState.Code, full.InstanceState.Name = 16, "running"
	full.IAMProfile = &struct {
		ARN string `xml:"arn"`
		ID  string `xml:"id"`
	}{ARN: "arn:aws:iam::111122223333:instance-profile/web", ID: "AIPAX"}
	bare := ec2InstanceXML{InstanceID: "i-00000001", Architecture: "x86_64"}
	cases := []describeInstancesResponse{
		{RequestID: "req-1"},
		{RequestID: "req-2", NextToken: "tok=="},
		{RequestID: "req-3", Reservations: []ec2Reservation{{ReservationID: "r-1", OwnerID: "111122223333"}}},
		{RequestID: "req-4", Reservations: []ec2Reservation{
			{ReservationID: "r-1", OwnerID: "111122223333", Instances: []ec2InstanceXML{full}},
			{ReservationID: "r-2", OwnerID: "111122223333", Instances: []ec2InstanceXML{bare, full}},
		}, NextToken: "next"},
	}
	for i, c := range cases {
		want, err := xml.Marshal(&c)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.appendXML(nil); string(got) != string(want) {
			t.Errorf("case %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

// TestDescribeInstancesXMLFleet compares both encoders over every instance
// of the demo fleet's views.
func TestDescribeInstancesXMLFleet(t *testing.T) {
	fleet := GenerateFleet(GenOptions{Instances: 300, Regions: []string{"us-east-1", "eu-west-1"}, ManagedEvery: 7, Seed: 3})
	acct := &fleet.Accounts[0]
	out := describeInstancesResponse{RequestID: "req"}
	for i := range acct.Instances {
		in := &acct.Instances[i]
		if in.Managed() {
			continue
		}
		out.Reservations = append(out.Reservations, ec2Reservation{ReservationID: "r-" + in.ID[2:], OwnerID: acct.ID, Instances: []ec2InstanceXML{ec2View(acct, in)}})
	}
	if len(out.Reservations) == 0 {
		t.Fatal("fleet has no EC2 instances")
	}
	want, err := xml.Marshal(&out)
	if err != nil {
		t.Fatal(err)
	}
	if got := out.appendXML(nil); string(got) != string(want) {
		t.Fatalf("fleet output differs:\n got %.500s\nwant %.500s", got, want)
	}
	// The server's path: items rendered once and cached per instance.
	a := &apiServer{}
	for pass := range 2 {
		cached := describeInstancesResponse{RequestID: "req"}
		for _, r := range out.Reservations {
			in, _ := acct.Instance(acct.Instances[0].Region, r.Instances[0].InstanceID)
			if in == nil {
				in, _ = acct.Instance("eu-west-1", r.Instances[0].InstanceID)
			}
			cached.Reservations = append(cached.Reservations, ec2Reservation{ReservationID: r.ReservationID, OwnerID: r.OwnerID, rendered: [][]byte{a.instanceXML(acct, in)}})
		}
		if got := cached.appendXML(nil); string(got) != string(want) {
			t.Fatalf("pass %d: cached rendering differs:\n got %.500s\nwant %.500s", pass, got, want)
		}
	}
}
