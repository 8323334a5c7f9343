"""Adapters: DynamoDB, Secrets Manager, SSM, EventBridge and SQS behind the domain's
interfaces, built from one AWS-client factory."""
