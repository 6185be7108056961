-- Demo data for docker/compose.yaml: a table the example masking rules apply to (email, ssn, card).
CREATE TABLE customers (
  id int PRIMARY KEY,
  full_name varchar(255) NOT NULL,
  email varchar(255) NOT NULL,
  ssn varchar(64),
  card varchar(64),
  notes varchar(1000)
) DEFAULT CHARSET=utf8mb4;
INSERT INTO customers VALUES
  (1, 'Jane Doe', 'jane.doe@example.com', '123-45-6789', '4111111111111111', 'prefers email'),
  (2, 'John Smith', 'john.smith@example.org', '987-65-4321', '5500000000000004', 'paid with card 4012 8888 8888 1881'),
  (3, 'Amélie Dubois', 'amelie@example.net', '078-05-1120', '378282246310005', 'call after 5pm');
