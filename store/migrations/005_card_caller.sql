-- Cards are issued to a caller (EHR issuer and tenant): feedback on a card
-- is taken only from the caller it was issued to. '' is development mode
-- and the cards issued before this column.
ALTER TABLE cards ADD COLUMN caller_key TEXT NOT NULL DEFAULT '';
