/**
 * The test organisation's AWS accounts, one name each wherever a test needs
 * one: the member accounts of acme/payments and acme/retail, an account no
 * association names, and the central account sigwatch runs in.
 */
export const PAYMENTS = '111122223333';
export const RETAIL = '444455556666';
export const GLOBEX = '555566667777'; // a third member account, of another group
export const STRANGER = '777788889999';
export const CENTRAL = '999999999999';
export const REGION = 'eu-west-1';
