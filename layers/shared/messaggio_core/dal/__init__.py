"""The data-access layer: the only code that talks to AWS (DynamoDB, SQS, S3, Secrets
Manager). Domain code and handlers see typed records and plain outcomes, never boto3."""
