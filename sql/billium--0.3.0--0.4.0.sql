/* billium 0.3.0 -> 0.4.0: dashboard sessions (JWT verified in C) and team security requirements. */

\echo Use "ALTER EXTENSION billium UPDATE TO '0.4.0'" to load this file. \quit
