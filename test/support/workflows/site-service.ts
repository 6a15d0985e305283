import * as nexus from 'nexus-rpc';

/** The Nexus service a site offers the control plane in the site-link tests. */
export const siteService = nexus.service('drover-site', {
  runSiteWork: nexus.operation<{ label: string }, string>(),
});
