package sandbox

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"
)

// Fleet is the sandbox's world: accounts, their enabled regions and their
// instances. It is loaded from a JSON file (schema in assets/README.md); the
// default demo fleet is embedded in package assets.
type Fleet struct {
	Accounts []Account `json:"accounts"`
}

// Account is one AWS account of the sandbox. Requests are mapped to an
// account by the access key ID in their SigV4 credential scope.
type Account struct {
	ID              string     `json:"id"`                      // 12 digits
	Profile         string     `json:"profile"`                 // profile name `demo` writes for it
	AccessKeyID     string     `json:"accessKeyId"`             // static test credentials
	SecretAccessKey string     `json:"secretAccessKey"`         // any value; signatures are not verified
	UserARN         string     `json:"userArn,omitempty"`       // GetCallerIdentity Arn
	Regions         []string   `json:"regions"`                 // enabled regions (DescribeRegions)
	DeniedRegions   []string   `json:"deniedRegions,omitempty"` // every call there answers AccessDenied
	Instances       []Instance `json:"instances"`
	// SessionKMSKeyID is the account's Session Manager preferences'
	// kmsKeyId: a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID) of this
	// account. When set, shell-type sessions on its instances run the KMS
	// handshake and are encrypted (ssm-protocol.md §8); Port sessions never
	// are. The key exists for the sandbox's KMS API in the ARN's region.
	SessionKMSKeyID string `json:"sessionKmsKeyId,omitempty"`
	// Network is the VPC and IAM model DescribeVpcEndpoints & co. and IAM
	// answer from; nil = every VPC, subnet and instance profile the
	// instances name is synthesized healthy (network.go).
	Network *Network `json:"network,omitempty"`
}

// Instance is one node of the fleet. EC2 fields are ignored for mi- nodes.
type Instance struct {
	ID     string            `json:"id"`
	Region string            `json:"region"`
	Name   string            `json:"name,omitempty"` // Name tag (EC2) or SSM Name (mi-)
	Tags   map[string]string `json:"tags,omitempty"` // other tags; Name is added from Name

	State           string    `json:"state,omitempty"`      // running (default), stopped, …
	PingStatus      string    `json:"pingStatus,omitempty"` // Online (default), ConnectionLost, Inactive
	AgentVersion    string    `json:"agentVersion,omitempty"`
	IsLatestVersion *bool     `json:"isLatestVersion,omitempty"`
	PlatformType    string    `json:"platformType,omitempty"` // Linux (default) | Windows | MacOS
	PlatformName    string    `json:"platformName,omitempty"` // Amazon Linux, Ubuntu, Debian GNU/Linux, Red Hat Enterprise Linux, …
	PlatformVersion string    `json:"platformVersion,omitempty"`
	InstanceType    string    `json:"instanceType,omitempty"`
	PrivateIP       string    `json:"privateIp,omitempty"`
	PublicIP        string    `json:"publicIp,omitempty"`
	VPCID           string    `json:"vpcId,omitempty"`
	SubnetID        string    `json:"subnetId,omitempty"`
	AZ              string    `json:"availabilityZone,omitempty"`
	LaunchTime      time.Time `json:"launchTime,omitzero"`
	InstanceProfile string    `json:"instanceProfile,omitempty"` // instance profile name
	ComputerName    string    `json:"computerName,omitempty"`    // mi- nodes; derived for EC2

	// Sandbox behaviour knobs.
	External       bool `json:"external,omitempty"`       // StartSession waits for an outside agent to join
	NoSSH          bool `json:"noSsh,omitempty"`          // nothing listens on port 22
	EICUnsupported bool `json:"eicUnsupported,omitempty"` // SendSSHPublicKey fails for this instance
	// NotManaged: the EC2 instance never registered with SSM. It is absent
	// from DescribeInstanceInformation and StartSession answers
	// TargetNotConnected, as for an offline agent.
	NotManaged bool `json:"notManaged,omitempty"`
	// SecurityGroups are the instance's security group IDs (groups of its
	// VPC in Network); default: its VPC's default group.
	SecurityGroups []string `json:"securityGroups,omitempty"`
}

// Managed reports whether the node is an on-prem/hybrid mi- node.
func (i Instance) Managed() bool { return strings.HasPrefix(i.ID, "mi-") }

// Online reports whether the node's agent answers (PingStatus defaults to
// Online; a NotManaged instance has no agent registered).
func (i Instance) Online() bool {
	return !i.NotManaged && (i.PingStatus == "" || i.PingStatus == "Online") && (i.State == "" || i.State == "running")
}

// LoadFleet reads a fleet file (JSON).
func LoadFleet(path string) (*Fleet, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read fleet file: %w", err)
	}
	return ParseFleet(b)
}

// ParseFleet decodes and validates a fleet definition.
func ParseFleet(b []byte) (*Fleet, error) {
	var f Fleet
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("parse fleet: %w", err)
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return &f, nil
}

// Validate checks that IDs and access keys are unique, every instance's
// region is enabled in its account, only EC2 instances are NotManaged, and
// the account's network model is consistent (network.go).
func (f *Fleet) Validate() error {
	keys := map[string]bool{}
	ids := map[string]bool{}
	for _, a := range f.Accounts {
		if a.ID == "" || a.AccessKeyID == "" {
			return fmt.Errorf("fleet: account %q needs id and accessKeyId", a.ID)
		}
		if keys[a.AccessKeyID] {
			return fmt.Errorf("fleet: access key %s used twice", a.AccessKeyID)
		}
		keys[a.AccessKeyID] = true
		regions := map[string]bool{}
		for _, r := range a.Regions {
			regions[r] = true
		}
		for _, in := range a.Instances {
			if ids[in.ID] {
				return fmt.Errorf("fleet: instance %s defined twice", in.ID)
			}
			ids[in.ID] = true
			if !regions[in.Region] {
				return fmt.Errorf("fleet: instance %s in region %q not enabled for account %s", in.ID, in.Region, a.ID)
			}
			if in.NotManaged && in.Managed() {
				return fmt.Errorf("fleet: instance %s: notManaged applies to EC2 instances only", in.ID)
			}
		}
		if a.SessionKMSKeyID != "" && !validKMSKeyARN(a.SessionKMSKeyID, a.ID) {
			return fmt.Errorf("fleet: account %s: sessionKmsKeyId %q is not a KMS key ARN of the account (arn:aws:kms:REGION:%s:key/ID)", a.ID, a.SessionKMSKeyID, a.ID)
		}
		if err := a.validateNetwork(); err != nil {
			return err
		}
	}
	return nil
}

// AccountByKey returns the account owning an access key ID.
func (f *Fleet) AccountByKey(akid string) (*Account, bool) {
	for i := range f.Accounts {
		if f.Accounts[i].AccessKeyID == akid {
			return &f.Accounts[i], true
		}
	}
	return nil, false
}

// Instance finds an instance of account a in region by ID.
func (a *Account) Instance(region, id string) (*Instance, bool) {
	for i := range a.Instances {
		if a.Instances[i].ID == id && a.Instances[i].Region == region {
			return &a.Instances[i], true
		}
	}
	return nil, false
}

// RegionEnabled reports whether region is enabled for the account.
func (a *Account) RegionEnabled(region string) bool {
	for _, r := range a.Regions {
		if r == region {
			return true
		}
	}
	return false
}

// RegionDenied reports whether every call in region answers AccessDenied.
func (a *Account) RegionDenied(region string) bool {
	for _, r := range a.DeniedRegions {
		if r == region {
			return true
		}
	}
	return false
}
