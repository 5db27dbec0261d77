/** A start-up error as the command prints it: a code and one line for a person. */
export interface StageError {
  readonly code: string;
  readonly message: string;
}
