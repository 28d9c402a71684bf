package inventory

import "time"

// Instance is one SSM-managed node as shown in the picker and `ssmtui list`.
// The JSON field names are a documented, stable interface (`list --json`).
type Instance struct {
	ID      string `json:"id"`                // i-… or mi-…
	Name    string `json:"name,omitempty"`    // Name tag (EC2) or SSM Name / ComputerName (mi-)
	Profile string `json:"profile,omitempty"` // AWS profile it was found with
	Account string `json:"account,omitempty"` // 12-digit account ID when known
	Region  string `json:"region"`

	PingStatus      string    `json:"pingStatus,omitempty"` // Online | ConnectionLost | Inactive
	AgentVersion    string    `json:"agentVersion,omitempty"`
	IsLatestVersion bool      `json:"isLatestVersion"`
	PlatformType    string    `json:"platformType,omitempty"` // Linux | Windows | MacOS
	PlatformName    string    `json:"platformName,omitempty"` // "Amazon Linux", "Ubuntu", …
	PlatformVersion string    `json:"platformVersion,omitempty"`
	ResourceType    string    `json:"resourceType,omitempty"` // EC2Instance | ManagedInstance
	ComputerName    string    `json:"computerName,omitempty"`
	LastPing        time.Time `json:"lastPing,omitzero"`

	State              string            `json:"state,omitempty"` // EC2 state name: running, stopped, …
	InstanceType       string            `json:"instanceType,omitempty"`
	PrivateIP          string            `json:"privateIp,omitempty"`
	PublicIP           string            `json:"publicIp,omitempty"`
	PrivateDNS         string            `json:"privateDns,omitempty"`
	PublicDNS          string            `json:"publicDns,omitempty"`
	VPCID              string            `json:"vpcId,omitempty"`
	SubnetID           string            `json:"subnetId,omitempty"`
	AvailabilityZone   string            `json:"availabilityZone,omitempty"`
	PlatformDetails    string            `json:"platformDetails,omitempty"`
	LaunchTime         time.Time         `json:"launchTime,omitzero"`
	IAMInstanceProfile string            `json:"iamInstanceProfile,omitempty"` // ARN
	Tags               map[string]string `json:"tags,omitempty"`
}

// Online reports whether the SSM agent currently answers pings.
func (i Instance) Online() bool { return i.PingStatus == "Online" }
