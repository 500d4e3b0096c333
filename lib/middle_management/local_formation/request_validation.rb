require "json"

module MiddleManagement
  module LocalFormation
    # Checks a request the way Heroku does (version header, credentials, the
    # body against the formation schema), raising the ApiError Heroku would
    # answer; Api applies the checks in Heroku's order. Strict on purpose: a client that passes
    # here sends what the real API accepts.
    module RequestValidation
      ACCEPT = "application/vnd.heroku+json; version=3"
      # The schema's `type` pattern: ^[-\w]{1,128}$
      TYPE_PATTERN = /\A[-\w]{1,128}\z/
      SINGLE_KEYS = %w[quantity dyno_size size].freeze
      BATCH_KEYS = %w[type quantity dyno_size size].freeze

      module_function

      # Heroku's MIME type with version 3, however the parameters are spaced.
      VERSION_3 = %r{application/vnd\.heroku\+json\s*;\s*version=3(\z|[\s;,])}i

      def check_version!(accept)
        raise ApiError.missing_version unless accept.to_s.match?(VERSION_3)
      end

      # In constant time: the local formation may be given a real token.
      def same_token?(presented, token)
        return false unless presented && presented.bytesize == token.bytesize

        presented.bytes.zip(token.bytes).sum { |a, b| a ^ b }.zero?
      end

      # The Bearer token, or the password of HTTP Basic (any username), as
      # Heroku accepts both.
      def presented_token(authorization)
        scheme, credentials = authorization.to_s.strip.split(/\s+/, 2)
        return nil unless credentials

        case scheme.downcase
        when "bearer" then credentials
        when "basic" then credentials.unpack1("m0").split(":", 2)[1]
        end
      rescue ArgumentError
        nil # not valid base64
      end

      def parse_body!(content_type, body)
        raise ApiError.not_json unless content_type.to_s.downcase.start_with?("application/json")

        JSON.parse(body.to_s)
      rescue JSON::ParserError
        raise ApiError.invalid_json
      end

      # PATCH /apps/{app}/formation/{type}: {"quantity": N} and/or a size.
      def single_update!(body, type)
        fields = update_fields!(body, SINGLE_KEYS)
        raise ApiError.invalid_params("Invalid params: `quantity` or `dyno_size` is required.") if fields.empty?

        Formation::Update.new(type: type, **fields)
      end

      # PATCH /apps/{app}/formation: {"updates": [{"type": ..., "quantity": ...}]}.
      def batch_updates!(body)
        raise ApiError.invalid_params("Invalid params: expected an object with `updates`.") unless body.is_a?(Hash)

        extra = body.keys - ["updates"]
        raise unexpected(extra.first) unless extra.empty?

        updates = body.fetch("updates") { raise ApiError.invalid_params("Invalid params: `updates` is required.") }
        raise ApiError.invalid_params("Invalid params: `updates` must be an array.") unless updates.is_a?(Array)

        updates.map do |update|
          fields = update_fields!(update, BATCH_KEYS)
          type = update["type"]
          raise ApiError.invalid_params("Invalid params: `type` is required.") if type.nil?
          raise ApiError.invalid_params("Invalid params: `type` must match #{TYPE_PATTERN.source}.") unless type.is_a?(String) && type.match?(TYPE_PATTERN)

          Formation::Update.new(type: type, **fields)
        end
      end

      # additionalProperties: false, and the schema's types for each value.
      def update_fields!(object, allowed)
        raise ApiError.invalid_params("Invalid params: expected an object of formation properties.") unless object.is_a?(Hash)

        extra = object.keys - allowed
        raise unexpected(extra.first) unless extra.empty?

        fields = {}
        fields[:quantity] = quantity!(object["quantity"]) if object.key?("quantity")
        size = size!(object)
        fields[:size] = size if size
        fields
      end

      def quantity!(value)
        # JSON 1.0 parses as a Float: Heroku's schema wants an integer.
        return value if value.is_a?(Integer) && value >= 0

        raise ApiError.invalid_params("Invalid params: `quantity` must be a non-negative integer.")
      end

      # `dyno_size` is an object naming the size by `name` or `id`; the
      # deprecated `size` is a plain string. Either sets the size reported back.
      def size!(object)
        if object.key?("dyno_size")
          value = object["dyno_size"]
          size = value["name"] || value["id"] if value.is_a?(Hash)
        elsif object.key?("size")
          size = object["size"]
        else
          return nil
        end
        return size if size.is_a?(String) && !size.empty?

        raise ApiError.invalid_params("Invalid params: `dyno_size` must be an object with a `name` or `id`.")
      end

      def unexpected(key) = ApiError.invalid_params("Invalid params: unexpected property `#{key}`.")
    end
  end
end
