/** What end-to-end tests on the sandbox clouds share. */

/** What EKS needs beyond the cluster itself (IAM roles, subnets): valid shapes, sandbox values. */
export const EKS_EXTRAS = {
  eks: {
    roleArn: 'arn:aws:iam::123456789012:role/drover-cluster',
    subnetIds: ['subnet-0a1b2c3d4e5f60001', 'subnet-0a1b2c3d4e5f60002'],
    nodeRoleArn: 'arn:aws:iam::123456789012:role/drover-nodes',
  },
};

/** Sandbox clouds that finish in a second or two, polled often. */
export const FAST_SANDBOX = {
  createMs: 1_500,
  nodePoolMs: 800,
  deleteMs: 800,
  polling: { initialMs: 200, maxMs: 800 },
};
