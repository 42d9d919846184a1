// Placeholder: the dev server's command line arrives with the dev-server issue.
console.error('leasehold-dev-server is not implemented yet.');
process.exitCode = 1;
