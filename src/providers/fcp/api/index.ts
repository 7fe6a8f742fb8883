/** The FCP (Mithril) cloud API client, its models and its paginator. */
export { FcpClient, type FcpClientOptions, type ListBidsQuery, type ListInstancesQuery } from "./client.ts";
export { collectPages, paginate, type Page } from "./pagination.ts";
export * from "./schemas.ts";
