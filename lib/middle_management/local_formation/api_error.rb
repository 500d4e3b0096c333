require "json"

module MiddleManagement
  module LocalFormation
    # An error answer in Heroku's shape: a status and `{"id", "message"}`.
    # The ids and messages are Heroku's own, so clients can be tested against
    # exactly what they will parse in production. Some carry more, as
    # Heroku's do: the `limit` that was reached.
    class ApiError < StandardError
      attr_reader :status, :id

      def initialize(status, id, message, **extra)
        @status = status
        @id = id
        @extra = extra.transform_keys(&:to_s)
        super(message)
      end

      def body = { "id" => id, "message" => message }.merge(@extra)

      def to_json(*args) = body.to_json(*args)

      class << self
        def missing_version
          new(400, "bad_request", "Please specify a version along with Heroku's API MIME type. " \
                                  "For example, `Accept: application/vnd.heroku+json; version=3`.")
        end

        def not_json
          new(400, "bad_request", "Request body must be JSON (Content-Type: application/json).")
        end

        def invalid_json
          new(400, "bad_request", "Provided data is invalid JSON.")
        end

        def unauthorized = new(401, "unauthorized", "Invalid credentials provided.")

        def forbidden(app) = new(403, "forbidden", "You do not have access to the app #{app}.")

        def endpoint_not_found
          new(404, "not_found", "The requested API endpoint was not found. Are you using the right HTTP verb " \
                                "(i.e. `GET` vs. `POST`), and did you specify your intended version with the " \
                                "`Accept` header?")
        end

        def app_not_found = new(404, "not_found", "Couldn't find that app.")

        def type_not_found(type) = new(404, "not_found", "Couldn't find that process type (#{type}).")

        def invalid_params(message) = new(422, "invalid_params", message)

        # Per process type at a size (Eco, Basic, Performance), or the app's
        # total across all types when `size` is nil.
        def above_limit(limit, size)
          message = if size then "Cannot update to more than #{limit} #{size} size dynos per process type."
                    else "Cannot update to more than #{limit} dynos across all process types."
                    end
          new(422, "cannot_update_above_limit", message, limit: limit)
        end

        def no_such_size(size)
          new(422, "invalid_params", "No such size as #{size}. Available dyno sizes are #{DynoSizes.listed}.")
        end

        def range_not_satisfiable(range)
          new(416, "requested_range_not_satisfiable", "Invalid Range header: #{range}")
        end

        def rate_limit
          new(429, "rate_limit", "Your account reached the API rate limit\n" \
                                 "Please wait a few minutes before making new requests")
        end
      end
    end
  end
end
