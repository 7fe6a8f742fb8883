/** The FCP (Mithril) cloud API client, its models and its paginator. */
export {
  FcpClient,
  type CurrentPricesQuery,
  type FcpClientOptions,
  type InstanceHistoryQuery,
  type ListBidsQuery,
  type ListInstancesQuery,
  type ListReservationsQuery,
  type PriceHistoryQuery,
  type ReservationCheckQuery,
  type ReservationLatestEndQuery,
  type ReservationMarket,
  type ReservationQuoteQuery,
  type ReservationSlotsQuery,
  type TerminatedInstances,
} from "./client.ts";
export { collectPages, paginate, type Page } from "./pagination.ts";
export * from "./schemas.ts";
