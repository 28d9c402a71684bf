package inventory

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// FallbackRegions are the aws partition's regions enabled by default
// (aws-apis.md §13, as of aws-sdk-go-v2 core v1.48.0). They are scanned when
// DescribeRegions is denied. Keep this list in step with new default regions.
var FallbackRegions = []string{
	"us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "sa-east-1",
	"eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-north-1",
	"ap-south-1", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-southeast-1", "ap-southeast-2",
}

// ec2RegionsAPI is the slice of the EC2 client the region lookup uses.
type ec2RegionsAPI interface {
	DescribeRegions(context.Context, *ec2.DescribeRegionsInput, ...func(*ec2.Options)) (*ec2.DescribeRegionsOutput, error)
}

// EnabledRegions is the account's enabled regions, sorted (DescribeRegions
// with c's credentials); commands that look beyond SSM (doctor) use it.
func EnabledRegions(ctx context.Context, c *ec2.Client) ([]string, error) {
	return enabledRegions(ctx, c)
}

// enabledRegions returns the regions enabled for the account (DescribeRegions
// without AllRegions lists exactly those), sorted.
func enabledRegions(ctx context.Context, c ec2RegionsAPI) ([]string, error) {
	out, err := c.DescribeRegions(ctx, &ec2.DescribeRegionsInput{})
	if err != nil {
		return nil, fmt.Errorf("describe regions: %w", err)
	}
	var regions []string
	for _, r := range out.Regions {
		if name := aws.ToString(r.RegionName); name != "" && aws.ToString(r.OptInStatus) != "not-opted-in" {
			regions = append(regions, name)
		}
	}
	slices.Sort(regions)
	return regions, nil
}
