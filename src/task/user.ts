/** The identity that created a task, as `task.getUser()` returns it. */
export interface User {
  userId: string;
  username: string;
  /** Empty when the provider does not know it (the local provider). */
  email: string;
}
