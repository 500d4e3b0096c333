module MiddleManagement
  module Backends
    module ActiveJobEvents
      # Runs a block once the transaction this thread has open on a model's
      # connection commits, never if it rolls back; at once outside one.
      # Active Job instruments an enqueue before the surrounding transaction
      # commits (unless Rails 7.2's enqueue_after_transaction_commit defers
      # the whole enqueue): a wake then would count before the row exists.
      # The thread's own connection is only looked at (`active_connection?`):
      # none is checked out and no SQL runs.
      module AfterCommit
        module_function

        def run(model, &block)
          conn = model.connection_pool.active_connection?
          return yield unless conn.respond_to?(:transaction_open?) && conn.transaction_open?

          conn.add_transaction_record(Callback.new(block))
        end

        # What a transaction asks of the records it holds (ActiveRecord
        # 6.1–8: committed!, rolledback!, before_committed!): the block runs
        # on the outermost commit; a savepoint's release hands it to the
        # parent transaction, a rollback drops it.
        class Callback
          def initialize(block)
            @block = block
          end

          def trigger_transactional_callbacks? = true
          def before_committed!(*) = nil
          def rolledback!(*, **) = nil

          def committed!(should_run_callbacks: true, **)
            @block.call if should_run_callbacks
          end
        end
      end
    end
  end
end
