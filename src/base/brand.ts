/** Branded primitive types (DESIGN rule 10): an SPI is not a message ID is not a cookie. */
declare const brand: unique symbol;
export type Brand<T, B extends string> = T & { readonly [brand]: B };
